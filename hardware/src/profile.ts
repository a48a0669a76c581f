import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError, ValidationError } from '../../common/errors.js';
import { assertValid } from '../../common/json-schema.js';
import { packageRoot } from '../../common/package-root.js';
import { gpioInvariantIssues, type GpioSection } from './gpio-profile.js';

export type Table = 'coil' | 'discrete' | 'holding' | 'input';
export type PointType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32';
export type Order = 'big' | 'little';

export interface PointDef {
  id: string;
  name: string;
  table: Table;
  address: number;
  type: PointType;
  bit?: number;
  byteOrder?: Order;
  wordOrder?: Order;
  scale?: number;
  offset?: number;
  unit?: string;
  access: 'r' | 'rw';
  min?: number;
  max?: number;
  pollMs?: number;
  deadband?: number;
  description?: string;
}

export interface ModbusDefaults {
  defaultUnitId?: number;
  maxRegistersPerRead?: number;
  maxBitsPerRead?: number;
  maxGap?: number;
  byteOrder?: Order;
  wordOrder?: Order;
}

export interface Profile {
  id: string;
  vendor: string;
  model: string;
  description?: string;
  kind: 'street-light' | 'pump-station' | 'waste-bin' | 'cabinet-io';
  modbus?: ModbusDefaults;
  points: PointDef[];
  /** Gateway GPIO pins (cabinet I/O); a profile has at least one Modbus point or GPIO pin. */
  gpio?: GpioSection;
  simulation?: { model: string; params?: Record<string, number | boolean | string> };
}

export const DEFAULT_POLL_MS = 5000;
export const isBitTable = (t: Table): boolean => t === 'coil' || t === 'discrete';
export const isWritableTable = (t: Table): boolean => t === 'coil' || t === 'holding';

/** Registers (or bits, for coil/discrete tables) a point occupies. */
export function pointWidth(p: PointDef): number {
  if (isBitTable(p.table)) return 1;
  return p.type === 'int32' || p.type === 'uint32' || p.type === 'float32' ? 2 : 1;
}

let schemaCache: object | undefined;
export function profileSchema(): object {
  return (schemaCache ??= JSON.parse(
    readFileSync(join(packageRoot(), 'hardware', 'profile.schema.json'), 'utf8'),
  ) as object);
}

/** Checks the schema cannot express: overlaps, bit-table types, writable tables, ranges. */
export function profileInvariantIssues(profile: Profile): string[] {
  const issues: string[] = [];
  const ids = new Set<string>();
  const used = new Map<string, string>(); // "table:address[:bit]" → point id
  profile.points.forEach((p, i) => {
    const at = `points[${i}] (${p.id})`;
    if (ids.has(p.id)) issues.push(`${at}: duplicate point id`);
    ids.add(p.id);
    if (isBitTable(p.table) && p.type !== 'bool')
      issues.push(`${at}: a ${p.table} point must have type bool`);
    if (isBitTable(p.table) && p.bit !== undefined)
      issues.push(`${at}: 'bit' applies only to register tables`);
    if (p.access === 'rw' && !isWritableTable(p.table))
      issues.push(`${at}: writable point in read-only table '${p.table}' has no Modbus write function`);
    if (p.access === 'rw' && p.type === 'bool' && p.bit !== undefined)
      issues.push(`${at}: writing a single bit inside a register is not supported`);
    if (p.min !== undefined && p.max !== undefined && p.min > p.max) issues.push(`${at}: min > max`);
    const width = pointWidth(p);
    if (p.address + width - 1 > 65535) issues.push(`${at}: runs past address 65535`);
    for (let k = 0; k < width; k++) {
      const key = p.bit !== undefined ? `${p.table}:${p.address}:${p.bit}` : `${p.table}:${p.address + k}`;
      const wholeKey = `${p.table}:${p.address + k}`;
      const clash = used.get(key) ?? (p.bit === undefined ? findBitUser(used, wholeKey) : used.get(wholeKey));
      if (clash) issues.push(`${at}: overlaps point '${clash}' at ${p.table} ${p.address + k}`);
      used.set(key, p.id);
    }
  });
  return issues;
}

function findBitUser(used: Map<string, string>, wholeKey: string): string | undefined {
  for (const [k, v] of used) if (k.startsWith(wholeKey + ':')) return v;
  return undefined;
}

/** Parse and fully check one profile document. `where` names its source in errors. */
export function parseProfile(doc: unknown, where: string): Profile {
  const profile = assertValid<Profile>(profileSchema(), doc, `device profile ${where}`);
  const issues = [...profileInvariantIssues(profile), ...gpioInvariantIssues(profile)];
  if (issues.length) throw new ValidationError(`device profile ${where}`, issues);
  return profile;
}

export function profilesDir(): string {
  return join(packageRoot(), 'hardware', 'profiles');
}

/** Load every profile in a directory (default: hardware/profiles); ids must be unique. */
export function loadProfiles(dir = profilesDir()): Map<string, Profile> {
  const out = new Map<string, Profile>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const path = join(dir, file);
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new CityGateError(
        'invalid',
        `device profile ${path} is not valid JSON: ${(err as Error).message}`,
      );
    }
    const profile = parseProfile(doc, path);
    if (out.has(profile.id))
      throw new CityGateError('invalid', `device profile id '${profile.id}' defined twice (${path})`);
    out.set(profile.id, profile);
  }
  return out;
}
