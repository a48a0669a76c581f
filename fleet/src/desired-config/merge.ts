/**
 * Desired config layers: fleet → group → gateway, merged in that order. Objects merge key by key;
 * arrays and scalars from a later layer replace earlier ones; `null` deletes a key.
 */
export type ConfigLayer = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergeLayers(...layers: (ConfigLayer | undefined)[]): ConfigLayer {
  let out: ConfigLayer = {};
  for (const layer of layers) if (layer) out = mergeTwo(out, layer);
  return out;
}

function mergeTwo(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  const out: ConfigLayer = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(out[k])) out[k] = mergeTwo(out[k], v);
    else out[k] = v;
  }
  return out;
}

export type Scope = { kind: 'fleet' } | { kind: 'group'; id: string } | { kind: 'gateway'; id: string };

export const scopeKey = (s: Scope): string => (s.kind === 'fleet' ? 'fleet' : `${s.kind}:${s.id}`);
