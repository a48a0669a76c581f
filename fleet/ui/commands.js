import { api, esc } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits for a command the gateway has not answered yet (the fleet answered 202 pending). */
async function settle(record) {
  let r = record;
  while (r.status === 'pending') {
    await sleep(1000);
    r = await api(`/api/v1/commands/${r.tx}`);
  }
  return r;
}

/** Human words for a command's outcome. */
export function outcome(r) {
  if (r.status === 'pending') return 'waiting for the gateway…';
  if (r.status === 'error') return `failed: ${r.error?.message ?? r.error?.code ?? 'unknown error'}`;
  const res = r.result ?? {};
  if (r.name === 'override') return `applied (${res.id ?? 'override'})`;
  return 'done';
}

/** The street lights of one gateway: every device with a `dim` point in its latest readings. */
export async function lightsOf(gateway) {
  const { points } = await api(`/api/v1/gateways/${gateway}/latest`);
  return [...new Set(points.filter((p) => p.point === 'dim').map((p) => p.device))];
}

/** The override that sets lights to `pct` % (0 switches them off). */
export function lightsOverride(lights, pct) {
  const set = {};
  for (const d of lights) {
    set[`${d}.on`] = pct > 0;
    if (pct > 0) set[`${d}.dim`] = pct;
  }
  return set;
}

/**
 * Sends one override per gateway, in parallel, and reports each result as it comes in
 * (`onResult(gateway, record | Error)`).
 */
export async function sendOverrides(targets, { why, durationMs }, onResult) {
  await Promise.all(
    targets.map(async ({ gateway, set }) => {
      try {
        const r = await api(`/api/v1/gateways/${gateway}/overrides`, {
          method: 'POST',
          body: JSON.stringify({ why, set, durationMs, waitMs: 5000 }),
        });
        onResult(gateway, r);
        if (r.status === 'pending') onResult(gateway, await settle(r));
      } catch (err) {
        onResult(gateway, err);
      }
    }),
  );
}

/** Writes one point and waits for the answer. */
export async function writePoint(gateway, device, point, value) {
  const r = await api(`/api/v1/gateways/${gateway}/commands`, {
    method: 'POST',
    body: JSON.stringify({ name: 'write', args: { device, point, value }, waitMs: 5000 }),
  });
  return settle(r);
}

/** Rows of a results table, one per gateway. */
export function resultRow(gateway, r) {
  const failed = r instanceof Error || r.status === 'error';
  const text = r instanceof Error ? `failed: ${r.message}` : outcome(r);
  return `<td>${esc(gateway)}</td><td class="${failed ? 'error' : r.status === 'ok' ? 'ok' : 'muted'}">${esc(text)}</td>`;
}
