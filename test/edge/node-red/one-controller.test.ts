import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import type { EdgeRuntime } from '../../../edge/src/main.js';
import { servicesFromRuntime } from '../../../edge/src/node-red/services.js';
import { RuleRunner } from '../../../edge/src/rules/runner.js';
import { cityControl } from '../rules/fixtures.js';

describe('Node-RED services: one automatic controller per point', () => {
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 5));
  const rules = new RuleRunner(cityControl(), { clock, write: async () => undefined, emit: () => undefined });
  const written: string[] = [];
  const runtime = {
    id: 'gw-one',
    rules,
    write: async (device: string, point: string, value: number | boolean) => {
      written.push(`${device}.${point}=${String(value)}`);
    },
  } as unknown as EdgeRuntime;
  const services = servicesFromRuntime(runtime, {
    raiseAlarm: () => undefined,
    clearAlarm: () => undefined,
    publishTelemetry: () => undefined,
  });

  it('refuses a flow’s write to a point a rule drives, naming the rule, and writes nothing', async () => {
    await expect(services.write('light-1', 'dim', 30)).rejects.toMatchObject({
      code: 'point-driven-by-rules',
      message: expect.stringMatching(/light-1\.dim is driven by rule street-lights on gateway gw-one/),
    });
    await expect(services.write('ps-1', 'pump2-run', true)).rejects.toThrow(/driven by rule wet-well/);
    expect(written).toEqual([]);
  });

  it('lets a flow write points no rule drives', async () => {
    await services.write('bin-1', 'led', true);
    expect(written).toEqual(['bin-1.led=true']);
  });
});
