import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ValidationError } from './errors.js';

/** One Ajv instance per process is enough; schemas are compiled once and cached by reference. */
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

/** `/devices/0/unitId` → `devices[0].unitId` (the form people type and docs use). */
export function jsonPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const raw of parts) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out || '(root)';
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${jsonPath(e.instancePath, String(p.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${jsonPath(e.instancePath)}: unknown property '${String(p.additionalProperty)}'`;
    case 'enum':
      return `${jsonPath(e.instancePath)}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${jsonPath(e.instancePath)}: must be ${JSON.stringify(p.allowedValue)}`;
    default:
      return `${jsonPath(e.instancePath)}: ${e.message ?? e.keyword}`;
  }
}

export function schemaErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  // anyOf/oneOf/if produce a summary line besides the leaf messages; keep the leaves, dedupe.
  const lines = (errors ?? []).filter((e) => !['anyOf', 'oneOf', 'if'].includes(e.keyword)).map(describe);
  return [...new Set(lines)];
}

export function compile(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Validate `value` against `schema`; throws a ValidationError naming every bad path. */
export function assertValid<T>(schema: object, value: unknown, what: string): T {
  const fn = compile(schema);
  if (!fn(value)) throw new ValidationError(what, schemaErrors(fn.errors));
  return value as T;
}

/** Validate without throwing: `{ok:true,value}` or `{ok:false,issues}`. */
export function check<T>(
  schema: object,
  value: unknown,
): { ok: true; value: T } | { ok: false; issues: string[] } {
  const fn = compile(schema);
  return fn(value) ? { ok: true, value: value as T } : { ok: false, issues: schemaErrors(fn.errors) };
}
