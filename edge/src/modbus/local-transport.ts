import type { Table } from '../../../hardware/src/profile.js';
import { LocalApiClient, LocalApiError } from '../local-client.js';
import { ModbusError } from './errors.js';
import type { ModbusTransport } from './transport.js';

const MODBUS_CODES = ['timeout', 'exception', 'crc', 'framing', 'connection'];

/**
 * A ModbusTransport that sends each transaction to a running gateway's local API, which runs it in
 * the owning line's queue: the technician CLI uses it instead of opening a port the gateway owns.
 */
export class LocalApiTransport implements ModbusTransport {
  private client: LocalApiClient | undefined;
  readonly description: string;

  constructor(
    private readonly dataDir: string,
    private readonly line?: string,
  ) {
    this.description = `gateway at ${dataDir}${line ? ` line ${line}` : ''}`;
  }

  open(): Promise<void> {
    try {
      this.client = new LocalApiClient(this.dataDir);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new ModbusError('connection', (err as Error).message));
    }
  }

  isOpen(): boolean {
    return this.client !== undefined;
  }

  close(): Promise<void> {
    this.client = undefined;
    return Promise.resolve();
  }

  private async post<T>(path: string, body: object): Promise<T> {
    if (!this.client) throw new ModbusError('connection', 'not open');
    try {
      return await this.client.post<T>(path, { ...body, ...(this.line ? { line: this.line } : {}) });
    } catch (err) {
      if (err instanceof LocalApiError && MODBUS_CODES.includes(err.code))
        throw new ModbusError(err.code as 'timeout', err.message, err.modbusCode);
      throw err;
    }
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
