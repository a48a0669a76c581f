/**
 * Fleet → gateway control messages and the gateway's answers. These are envelopes: the config,
 * command and release issues fill in what `config`, `args`, `result` and `release` hold. The
 * answers leave the gateway through its outbox (event class), so they carry the Envelope too.
 */
import { envelopeProperties, envelopeRequired, type Envelope } from './payloads.js';
import { ID_PATTERN, PROTOCOL_VERSION } from './topics.js';

/** Transaction ids: chosen by the fleet, echoed in the answer. */
export const TX_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** `config/desired` (retained): the configuration the fleet wants this gateway to run. */
export interface ConfigDesired {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  version: number;
  ts: number;
  config: Record<string, unknown>;
  /** Detached signature by the fleet key (the signed-config work defines it). */
  signature?: string;
}

/** `config/reported`: what the gateway did with a desired config. */
export interface ConfigReported extends Envelope {
  version: number;
  status: 'applied' | 'rejected';
  error?: string;
}

/** `cmd/req`: one command, answered once on `cmd/res` with the same `tx`. */
export interface CommandRequest {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  tx: string;
  name: string;
  args: Record<string, unknown>;
  ts: number;
  /** A command arriving after this (ms since the epoch) is answered with error `expired`. */
  expiresAt?: number;
}

export type CommandResponse = Envelope & { tx: string } & (
    { status: 'ok'; result?: unknown } | { status: 'error'; error: { code: string; message: string } }
  );

/** `update/control`: start, cancel or roll back a release on this gateway. */
export interface UpdateControl {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  tx: string;
  action: 'install' | 'cancel' | 'rollback';
  release?: { version: string; url: string; sha256: string; signature?: string };
  ts: number;
}

/** `update/progress`: the updater's steps, through the outbox. */
export interface UpdateProgress extends Envelope {
  tx?: string;
  step: string;
  status: 'running' | 'done' | 'failed';
  version?: string;
  detail?: string;
}

const base = {
  v: { const: PROTOCOL_VERSION },
  gateway: { type: 'string', pattern: ID_PATTERN },
  ts: { type: 'integer', minimum: 0 },
} as const;
const tx = { type: 'string', pattern: TX_PATTERN } as const;

export const configDesiredSchema = {
  $id: 'citygate/v1/config/desired',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'version', 'ts', 'config'],
  properties: {
    ...base,
    version: { type: 'integer', minimum: 1 },
    config: { type: 'object' },
    signature: { type: 'string', maxLength: 2048 },
  },
} as const;

export const configReportedSchema = {
  $id: 'citygate/v1/config/reported',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'version', 'status'],
  properties: {
    ...envelopeProperties,
    version: { type: 'integer', minimum: 0 },
    status: { enum: ['applied', 'rejected'] },
    error: { type: 'string', maxLength: 2000 },
  },
} as const;

export const commandRequestSchema = {
  $id: 'citygate/v1/cmd/req',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'tx', 'name', 'args', 'ts'],
  properties: {
    ...base,
    tx,
    name: { type: 'string', pattern: ID_PATTERN },
    args: { type: 'object' },
    expiresAt: { type: 'integer', minimum: 0 },
  },
} as const;

export const commandResponseSchema = {
  $id: 'citygate/v1/cmd/res',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'tx', 'status'],
  properties: {
    ...envelopeProperties,
    tx,
    status: { enum: ['ok', 'error'] },
    result: {},
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: { code: { type: 'string', maxLength: 64 }, message: { type: 'string', maxLength: 2000 } },
    },
  },
  if: { properties: { status: { const: 'error' } } },
  then: { properties: { error: true }, required: ['error'] },
  else: { properties: { error: false } },
} as const;

export const updateControlSchema = {
  $id: 'citygate/v1/update/control',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'tx', 'action', 'ts'],
  properties: {
    ...base,
    tx,
    action: { enum: ['install', 'cancel', 'rollback'] },
    release: {
      type: 'object',
      additionalProperties: false,
      required: ['version', 'url', 'sha256'],
      properties: {
        version: { type: 'string', maxLength: 64 },
        url: { type: 'string', maxLength: 2048 },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        signature: { type: 'string', maxLength: 2048 },
      },
    },
  },
  if: { properties: { action: { const: 'install' } } },
  then: { properties: { release: true }, required: ['release'] },
} as const;

export const updateProgressSchema = {
  $id: 'citygate/v1/update/progress',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'step', 'status'],
  properties: {
    ...envelopeProperties,
    tx,
    step: { type: 'string', minLength: 1, maxLength: 64 },
    status: { enum: ['running', 'done', 'failed'] },
    version: { type: 'string', maxLength: 64 },
    detail: { type: 'string', maxLength: 2000 },
  },
} as const;
