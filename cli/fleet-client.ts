import { CityGateError } from '../common/errors.js';

/** The fleet's base URL from --fleet, $CITYGATE_FLEET_URL or the default local one. */
export function fleetUrl(values: Record<string, unknown>): string {
  const v =
    typeof values.fleet === 'string'
      ? values.fleet
      : (process.env.CITYGATE_FLEET_URL ?? 'http://127.0.0.1:8080');
  return v.replace(/\/+$/, '');
}

/** One fleet API call; an `{status:"error"}` answer becomes a CityGateError with the fleet's code. */
export async function requestJson<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : Buffer.isBuffer(body)
          ? { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) }
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CityGateError(
      'fleet-unreachable',
      `cannot reach the fleet at ${base}: ${(err as Error).message}`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok)
    throw new CityGateError(
      json.error?.code ?? 'fleet-error',
      json.error?.message ?? `HTTP ${res.status} from ${path}`,
    );
  return json as T;
}
