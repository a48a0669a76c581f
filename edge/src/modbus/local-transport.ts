import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError } from '../../../common/errors.js';
import type { Table } from '../../../hardware/src/profile.js';
import { LOCAL_API_FILE, type LocalApiInfo } from '../local-api.js';
import { ModbusError } from './errors.js';
import type { ModbusTransport } from './transport.js';

type ErrorBody = { error?: { code?: string; message?: string; modbusCode?: number } };

/**
 * A ModbusTransport that sends each transaction to a running gateway's local API, which runs it in
 * the owning line's queue: the technician CLI uses it instead of opening a port the gateway owns.
 */
export class LocalApiTransport implements ModbusTransport {
  private info: LocalApiInfo | undefined;
  readonly description: string;

  constructor(
    private readonly dataDir: string,
    private readonly line?: string,
  ) {
    this.description = `gateway at ${dataDir}${line ? ` line ${line}` : ''}`;
  }

  open(): Promise<void> {
    const path = join(this.dataDir, LOCAL_API_FILE);
    try {
      this.info = JSON.parse(readFileSync(path, 'utf8')) as LocalApiInfo;
    } catch (err) {
      return Promise.reject(
        new ModbusError(
          'connection',
          `no running gateway found: cannot read ${path} (${(err as Error).message})`,
        ),
      );
    }
    return Promise.resolve();
  }

  isOpen(): boolean {
    return this.info !== undefined;
  }

  close(): Promise<void> {
    this.info = undefined;
    return Promise.resolve();
  }

  private async post<T>(path: string, body: object): Promise<T> {
    const info = this.info;
    if (!info) throw new ModbusError('connection', 'not open');
    let res: Response;
    try {
      res = await fetch(`${info.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, ...(this.line ? { line: this.line } : {}) }),
      });
    } catch (err) {
      throw new ModbusError(
        'connection',
        `gateway ${info.gateway} does not answer at ${info.url}: ${(err as Error).message}`,
      );
    }
    const json = (await res.json()) as T & ErrorBody;
    if (res.ok) return json;
    const e = json.error ?? {};
    const code = e.code ?? 'connection';
    if (['timeout', 'exception', 'crc', 'framing', 'connection'].includes(code))
      throw new ModbusError(code as 'timeout', e.message ?? code, e.modbusCode);
    throw new CityGateError(code, e.message ?? `HTTP ${res.status}`);
  }

  async read(unit: number, table: Table, address: number, count: number): Promise<number[]> {
    return (await this.post<{ values: number[] }>('/local/v1/modbus/read', { unit, table, address, count }))
      .values;
  }

  async write(
    unit: number,
    table: 'coil' | 'holding',
    address: number,
    values: readonly number[],
  ): Promise<void> {
    await this.post('/local/v1/modbus/write', { unit, table, address, values });
  }
}
