import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError } from '../../common/errors.js';
import { LOCAL_API_FILE, type LocalApiInfo } from './local-api.js';

type ErrorBody = { error?: { code?: string; message?: string; modbusCode?: number } };

/** An error answered by the gateway's local API, with its code (and Modbus exception code). */
export class LocalApiError extends CityGateError {
  constructor(
    code: string,
    message: string,
    readonly modbusCode?: number,
  ) {
    super(code, message);
  }
}

/** Talks to a running gateway's local API, found through `<dataDir>/local-api.json`. */
export class LocalApiClient {
  readonly info: LocalApiInfo;

  constructor(readonly dataDir: string) {
    const path = join(dataDir, LOCAL_API_FILE);
    try {
      this.info = JSON.parse(readFileSync(path, 'utf8')) as LocalApiInfo;
    } catch (err) {
      throw new LocalApiError(
        'connection',
        `no running gateway found: cannot read ${path} (${(err as Error).message})`,
      );
    }
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.info.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.info.token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new LocalApiError(
        'connection',
        `gateway ${this.info.gateway} does not answer at ${this.info.url}: ${(err as Error).message}`,
      );
    }
    const json = (await res.json()) as T & ErrorBody;
    if (res.ok) return json;
    const e = json.error ?? {};
    throw new LocalApiError(e.code ?? 'connection', e.message ?? `HTTP ${res.status}`, e.modbusCode);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: object): Promise<T> {
    return this.request<T>('POST', path, body);
  }
}
