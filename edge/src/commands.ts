import { CityGateError } from '../../common/errors.js';
import { assertValid } from '../../common/json-schema.js';
import type { EdgeRuntime } from './main.js';
import { overrideIssues } from './rules/validate.js';
import type { Profile } from '../../hardware/src/profile.js';

/**
 * The commands a gateway answers on `cmd/req` (from the fleet or its operators): each validates its
 * args against a schema, goes through the same paths as a local operator (writes pass the
 * interlocks), and returns a result that is sent back on `cmd/res` through the outbox.
 */
type Handler = (rt: EdgeRuntime, args: Record<string, unknown>) => Promise<unknown>;

const ref = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } as const;

function deviceProfiles(rt: EdgeRuntime): Map<string, Profile> {
  const out = new Map<string, Profile>(rt.gpioProfiles);
  for (const l of rt.lines.values())
    for (const d of l.devicesState()) out.set(d.id, rt.profiles.get(d.profile)!);
  return out;
}

const handlers: Record<string, { schema: object; run: Handler }> = {
  /** Write one point of one device, e.g. dim a light or start a pump. */
  write: {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['device', 'point', 'value'],
      properties: { device: ref, point: ref, value: { type: ['number', 'boolean'] } },
    },
    async run(rt, a) {
      await rt.write(a.device as string, a.point as string, a.value as number | boolean);
      return { device: a.device, point: a.point, value: a.value };
    },
  },
  /** A temporary override ("all lights 100 % for 2 h"), recorded with who and why; reverts by itself. */
  override: {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['who', 'why', 'set', 'durationMs'],
      properties: {
        id: ref,
        who: { type: 'string', minLength: 1, maxLength: 100 },
        why: { type: 'string', minLength: 1, maxLength: 500 },
        set: { type: 'object', minProperties: 1, additionalProperties: { type: ['number', 'boolean'] } },
        durationMs: { type: 'integer', minimum: 1000, maximum: 7 * 86_400_000 },
      },
    },
    run(rt, a) {
      const set = a.set as Record<string, number | boolean>;
      const issues = overrideIssues(set, deviceProfiles(rt));
      if (issues.length) throw new CityGateError('bad-request', `override: ${issues.join('; ')}`);
      const now = rt.clock.now();
      const o = {
        id: (a.id as string | undefined) ?? `ovr-${now.toString(36)}`,
        who: a.who as string,
        why: a.why as string,
        set,
        until: now + (a.durationMs as number),
      };
      rt.rules.addOverride(o);
      return Promise.resolve(o);
    },
  },
  'cancel-override': {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'by'],
      properties: { id: ref, by: { type: 'string', minLength: 1, maxLength: 100 } },
    },
    run(rt, a) {
      rt.rules.cancelOverride(a.id as string, a.by as string);
      return Promise.resolve({ cancelled: a.id });
    },
  },
  /** Latest value of every point, and device states. */
  'read-points': {
    schema: { type: 'object', additionalProperties: false, properties: {} },
    run(rt) {
      return Promise.resolve({
        points: [...rt.latest.values()],
        devices: [...rt.lines.values()].flatMap((l) => l.devicesState()),
      });
    },
  },
};

export const COMMAND_NAMES = Object.keys(handlers);

export async function runCommand(
  rt: EdgeRuntime,
  name: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  const h = handlers[name];
  if (!h)
    throw new CityGateError('unknown-command', `no command '${name}' (known: ${COMMAND_NAMES.join(', ')})`);
  assertValid(h.schema, args, `command '${name}' args`);
  return h.run(rt, args);
}
