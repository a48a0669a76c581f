import { readFileSync } from 'node:fs';
import { ID_PATTERN } from '../../common/contract/index.js';
import { CityGateError, ValidationError } from '../../common/errors.js';
import { assertValid } from '../../common/json-schema.js';
import type { Profile } from '../../hardware/src/profile.js';
import { controlDefs, controlProperties } from './rules/schema.js';
import { DEFAULT_TIME_ZONE, type ControlConfig, type Location } from './rules/types.js';
import { controlIssues } from './rules/validate.js';

/** One gateway's configuration document (version 2). The fleet will validate against the same schema. */
export interface TcpLineConfig {
  id: string;
  type: 'tcp';
  host: string;
  port: number;
  timeoutMs?: number;
  /** Immediate retries of a transaction that timed out or came back garbled (default 1). */
  retries?: number;
  /** Backoff for reconnects and quarantined devices (default 1 s doubling to 60 s). */
  backoff?: { minMs: number; maxMs: number };
}
/** An RS-485 line: Modbus RTU over a serial port. */
export interface RtuLineConfig {
  id: string;
  type: 'rtu';
  path: string;
  baudRate: number;
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  timeoutMs?: number;
  /** Extra silence after each reply before the next request (slow slaves), on top of 3.5 character times. */
  turnaroundMs?: number;
  retries?: number;
  backoff?: { minMs: number; maxMs: number };
}
export type LineConfig = TcpLineConfig | RtuLineConfig;

export interface DeviceConfig {
  id: string;
  profile: string;
  line: string;
  unitId: number;
  /** Overrides every point's poll period for this device. */
  pollMs?: number;
  name?: string;
}

/** The config document version this code writes; older versions are migrated on load. */
export const CONFIG_VERSION = 2;

/** Placeholder until Node-RED is embedded: only `enabled` is interpreted; other settings pass through. */
export interface NodeRedSettings {
  enabled?: boolean;
  /** Editor port (default 1880). */
  port?: number;
  /** Listen address (default 127.0.0.1; the cabinet LAN needs 0.0.0.0). */
  host?: string;
  /** Required when enabled: the editor login, with a bcrypt hash (citygate node-red hash). */
  adminAuth?: { username: string; passwordHash: string };
  /** Install the shipped flows on first start (not with rules that drive the same points). */
  defaultFlows?: boolean;
}

export interface GatewayConfig extends ControlConfig {
  version: typeof CONFIG_VERSION;
  id: string;
  name?: string;
  /** Where the gateway stands: sun times and calendar schedules (time zone default Asia/Ho_Chi_Minh). */
  location?: Location;
  fleet: { mqttUrl: string; username?: string; password?: string };
  dataDir?: string;
  lines: LineConfig[];
  devices: DeviceConfig[];
  /** Devices on the gateway's own GPIO header (cabinet I/O), by profile. */
  gpio?: GpioDeviceConfig[];
  nodeRed?: NodeRedSettings;
}

export interface GpioDeviceConfig {
  id: string;
  profile: string;
  name?: string;
}

const id = { type: 'string', pattern: ID_PATTERN } as const;
const timeoutMs = { type: 'integer', minimum: 10, maximum: 60000 } as const;
const retries = { type: 'integer', minimum: 0, maximum: 5 } as const;
const backoff = {
  type: 'object',
  additionalProperties: false,
  required: ['minMs', 'maxMs'],
  properties: {
    minMs: { type: 'integer', minimum: 10, maximum: 600000 },
    maxMs: { type: 'integer', minimum: 10, maximum: 3600000 },
  },
} as const;

export const gatewayConfigSchema = {
  $id: 'citygate/gateway-config/v2',
  $defs: controlDefs,
  type: 'object',
  additionalProperties: false,
  required: ['version', 'id', 'fleet', 'lines', 'devices'],
  properties: {
    $schema: { type: 'string' },
    version: { const: CONFIG_VERSION },
    id,
    name: { type: 'string', maxLength: 200 },
    location: {
      type: 'object',
      additionalProperties: false,
      required: ['lat', 'lon'],
      properties: {
        lat: { type: 'number', minimum: -90, maximum: 90 },
        lon: { type: 'number', minimum: -180, maximum: 180 },
        timeZone: { type: 'string', minLength: 1, maxLength: 64 },
      },
    },
    ...controlProperties,
    nodeRed: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        host: { type: 'string', minLength: 1 },
        adminAuth: {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'passwordHash'],
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 64 },
            passwordHash: { type: 'string', pattern: '^\\$2[aby]\\$\\d{2}\\$.{53}$' },
          },
        },
        defaultFlows: { type: 'boolean' },
      },
      if: { properties: { enabled: { const: true } }, required: ['enabled'] },
      then: { properties: { adminAuth: true }, required: ['adminAuth'] },
    },
    fleet: {
      type: 'object',
      additionalProperties: false,
      required: ['mqttUrl'],
      properties: {
        mqttUrl: { type: 'string', pattern: '^mqtts?://[^\\s]+$' },
        username: { type: 'string', minLength: 1 },
        password: { type: 'string', minLength: 1 },
      },
    },
    dataDir: { type: 'string', minLength: 1 },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'type'],
        properties: { type: { enum: ['tcp', 'rtu'] } },
        allOf: [
          {
            if: { properties: { type: { const: 'tcp' } } },
            then: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'type', 'host', 'port'],
              properties: {
                id,
                type: { const: 'tcp' },
                host: { type: 'string', minLength: 1 },
                port: { type: 'integer', minimum: 1, maximum: 65535 },
                timeoutMs,
                retries,
                backoff,
              },
            },
          },
          {
            if: { properties: { type: { const: 'rtu' } } },
            then: {
              type: 'object',
              additionalProperties: false,
              required: ['id', 'type', 'path', 'baudRate'],
              properties: {
                id,
                type: { const: 'rtu' },
                path: { type: 'string', minLength: 1 },
                baudRate: { enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] },
                parity: { enum: ['none', 'even', 'odd'] },
                dataBits: { enum: [7, 8] },
                stopBits: { enum: [1, 2] },
                timeoutMs,
                turnaroundMs: { type: 'integer', minimum: 0, maximum: 1000 },
                retries,
                backoff,
              },
            },
          },
        ],
      },
    },
    gpio: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'profile'],
        properties: {
          id,
          name: { type: 'string', maxLength: 200 },
          profile: { type: 'string', pattern: '^[a-z0-9-]+/[a-z0-9-]+$' },
        },
      },
    },
    devices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'profile', 'line', 'unitId'],
        properties: {
          id,
          name: { type: 'string', maxLength: 200 },
          profile: { type: 'string', pattern: '^[a-z0-9-]+/[a-z0-9-]+$' },
          line: id,
          unitId: { type: 'integer', minimum: 0, maximum: 255 },
          pollMs: { type: 'integer', minimum: 50, maximum: 86400000 },
        },
      },
    },
  },
} as const;

/**
 * Bring an older document up to CONFIG_VERSION. Version 1 (identity, fleet, lines, devices, gpio)
 * is a subset of version 2, which adds location.timeZone, rules, alarms, interlocks, overrides,
 * fail-safes and Node-RED settings; so the step is a version bump. Unknown versions are refused.
 */
export function migrateGatewayConfig(doc: unknown, where = 'gateway config'): unknown {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const v = (doc as { version?: unknown }).version;
  if (v === 1) return { ...doc, version: 2 };
  if (typeof v === 'number' && v > CONFIG_VERSION)
    throw new ValidationError(where, [
      `version: ${v} is newer than this gateway understands (≤ ${CONFIG_VERSION})`,
    ]);
  return doc;
}

/** The local-control part of a config, with defaults filled in. */
export function controlConfig(cfg: GatewayConfig): ControlConfig {
  return {
    ...(cfg.location ? { location: { timeZone: DEFAULT_TIME_ZONE, ...cfg.location } } : {}),
    rules: cfg.rules ?? [],
    alarms: cfg.alarms ?? [],
    interlocks: cfg.interlocks ?? [],
    overrides: cfg.overrides ?? [],
    failSafe: cfg.failSafe ?? [],
  };
}

/**
 * Migration, schema check and cross-references (lines, profiles, unique ids, every point a rule
 * reads or writes). Errors name the JSON path.
 */
export function parseGatewayConfig(
  doc: unknown,
  profiles: ReadonlyMap<string, Profile>,
  where = 'gateway config',
): GatewayConfig {
  const cfg = assertValid<GatewayConfig>(gatewayConfigSchema, migrateGatewayConfig(doc, where), where);
  const issues: string[] = [];
  const lineIds = new Set<string>();
  cfg.lines.forEach((l, i) => {
    if (lineIds.has(l.id)) issues.push(`lines[${i}].id: duplicate line id '${l.id}'`);
    lineIds.add(l.id);
  });
  const deviceIds = new Set<string>();
  const units = new Set<string>();
  cfg.devices.forEach((d, i) => {
    if (deviceIds.has(d.id)) issues.push(`devices[${i}].id: duplicate device id '${d.id}'`);
    deviceIds.add(d.id);
    if (!lineIds.has(d.line))
      issues.push(`devices[${i}].line: no line '${d.line}' (known: ${[...lineIds].join(', ') || 'none'})`);
    if (!profiles.has(d.profile))
      issues.push(
        `devices[${i}].profile: unknown profile '${d.profile}' (known: ${[...profiles.keys()].join(', ')})`,
      );
    const unitKey = `${d.line}:${d.unitId}`;
    if (units.has(unitKey))
      issues.push(`devices[${i}].unitId: unit ${d.unitId} already used on line '${d.line}'`);
    units.add(unitKey);
  });
  (cfg.gpio ?? []).forEach((g, i) => {
    if (deviceIds.has(g.id)) issues.push(`gpio[${i}].id: duplicate device id '${g.id}'`);
    deviceIds.add(g.id);
    const profile = profiles.get(g.profile);
    if (!profile)
      issues.push(
        `gpio[${i}].profile: unknown profile '${g.profile}' (known: ${[...profiles.keys()].join(', ')})`,
      );
    else if (!profile.gpio?.pins.length)
      issues.push(`gpio[${i}].profile: profile '${g.profile}' has no GPIO pins`);
  });
  if ((cfg.gpio?.length ?? 0) > 1)
    issues.push('gpio: one GPIO device per gateway (the header is one set of pins)');
  const deviceProfiles = new Map<string, Profile>();
  for (const d of [...cfg.devices, ...(cfg.gpio ?? [])]) {
    const p = profiles.get(d.profile);
    if (p) deviceProfiles.set(d.id, p);
  }
  issues.push(...controlIssues(cfg, deviceProfiles));
  if (issues.length) throw new ValidationError(where, issues);
  return cfg;
}

export function loadGatewayConfig(path: string, profiles: ReadonlyMap<string, Profile>): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CityGateError(
      'config-unreadable',
      `cannot read gateway config ${path}: ${(err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CityGateError('invalid', `gateway config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseGatewayConfig(doc, profiles, `gateway config ${path}`);
}
