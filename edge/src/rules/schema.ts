/**
 * JSON Schema for the local-control sections of a gateway config. Shapes only; cross-references
 * (devices, points, writability, one kind per condition) are checked by validate.ts with path-naming
 * messages. Conditions are recursive, so they live in `$defs` of the gateway schema.
 */
const ID = '[a-z0-9][a-z0-9-]{0,62}';
const id = { type: 'string', pattern: `^${ID}$` } as const;
const ref = { type: 'string', pattern: `^${ID}\\.${ID}$` } as const;
/** In alarms, `$.point` stands for each listed device's point. */
const alarmRef = { type: 'string', pattern: `^(${ID}|\\$)\\.${ID}$` } as const;
const value = { type: ['number', 'boolean'] } as const;
const ms = { type: 'integer', minimum: 0, maximum: 86_400_000 } as const;
const date = { type: 'string', pattern: '^(\\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' } as const;
const refValues = {
  type: 'object',
  minProperties: 1,
  propertyNames: ref,
  additionalProperties: value,
} as const;

const timeSpec = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    time: { type: 'string', pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' },
    sun: { enum: ['sunrise', 'sunset', 'dawn', 'dusk'] },
    offsetMin: { type: 'integer', minimum: -720, maximum: 720 },
  },
} as const;

const scheduleRule = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'devices', 'entries'],
  properties: {
    id,
    kind: { const: 'schedule' },
    priority: { type: 'integer', minimum: -1000, maximum: 1000 },
    devices: { type: 'array', minItems: 1, items: id },
    entries: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'set'],
        properties: {
          at: timeSpec,
          set: {
            type: 'object',
            minProperties: 1,
            propertyNames: id,
            additionalProperties: { type: ['number', 'boolean', 'null'] },
          },
        },
      },
    },
    days: { type: 'array', items: { enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] } },
    dates: { type: 'array', items: date },
    except: { type: 'array', items: date },
  },
} as const;

const thresholdRule = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'input', 'high', 'low'],
  properties: {
    id,
    kind: { const: 'threshold' },
    priority: { type: 'integer', minimum: -1000, maximum: 1000 },
    input: ref,
    high: { type: 'number' },
    low: { type: 'number' },
    direction: { enum: ['rising', 'falling'] },
    minOnMs: ms,
    minOffMs: ms,
    maxStartsPerHour: { type: 'integer', minimum: 1, maximum: 3600 },
    whenOn: refValues,
    whenOff: refValues,
    duty: {
      type: 'object',
      additionalProperties: false,
      required: ['members'],
      properties: {
        members: {
          type: 'array',
          minItems: 1,
          maxItems: 8,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['run'],
            properties: { run: ref, faults: { type: 'array', items: ref } },
          },
        },
        rotate: { type: 'boolean' },
      },
    },
  },
} as const;

export const controlDefs = {
  condition: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    dependencies: { point: ['op', 'value'], desired: ['op', 'value'] },
    properties: {
      point: alarmRef,
      desired: alarmRef,
      op: { enum: ['==', '!=', '>', '>=', '<', '<='] },
      value,
      sun: { enum: ['night', 'day'] },
      all: { type: 'array', minItems: 1, items: { $ref: '#/$defs/condition' } },
      any: { type: 'array', minItems: 1, items: { $ref: '#/$defs/condition' } },
      not: { $ref: '#/$defs/condition' },
    },
  },
} as const;

export const controlProperties = {
  rules: {
    type: 'array',
    items: {
      type: 'object',
      required: ['id', 'kind'],
      properties: { kind: { enum: ['schedule', 'threshold'] } },
      allOf: [
        { if: { properties: { kind: { const: 'schedule' } } }, then: scheduleRule },
        { if: { properties: { kind: { const: 'threshold' } } }, then: thresholdRule },
      ],
    },
  },
  alarms: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'severity', 'message', 'raise'],
      properties: {
        id,
        severity: { enum: ['critical', 'major', 'minor', 'warning'] },
        message: { type: 'string', minLength: 1, maxLength: 500 },
        devices: { type: 'array', minItems: 1, items: id },
        raise: { $ref: '#/$defs/condition' },
        clear: { $ref: '#/$defs/condition' },
        forMs: ms,
      },
    },
  },
  interlocks: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'if', 'force'],
      properties: { id, if: { $ref: '#/$defs/condition' }, force: refValues },
    },
  },
  overrides: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'who', 'why', 'set', 'until'],
      properties: {
        id,
        who: { type: 'string', minLength: 1, maxLength: 200 },
        why: { type: 'string', minLength: 1, maxLength: 500 },
        set: refValues,
        until: { type: 'integer', minimum: 0 },
        createdAt: { type: 'integer', minimum: 0 },
      },
    },
  },
  failSafe: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['device', 'set'],
      properties: {
        device: id,
        set: { type: 'object', propertyNames: id, additionalProperties: value },
        night: { type: 'object', propertyNames: id, additionalProperties: value },
      },
    },
  },
} as const;
