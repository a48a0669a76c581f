import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realClock } from '../../common/clock.js';
import { memoryLogger } from '../../common/log.js';
import type { CommissioningReport } from '../../edge/src/commission/report.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { FakeGpioBoard } from '../../edge/src/gpio/fake.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { simAction } from '../../hardware/src/sim/models/index.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';
import { chromium } from 'playwright-core';
import { runCli, startCli } from './run-cli.js';

/** On-site commissioning with no uplink, against simulators with a faulty lamp and a dead unit. */
describe('citygate commission', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const sim = new TcpSimulator(
    [1, 2]
      .map((unitId) => ({ unitId, profile: profiles.get('citygate/slc-100')! }))
      .concat([
        { unitId: 21, profile: profiles.get('citygate/wbs-10')! },
        { unitId: 10, profile: profiles.get('citygate/psc-200')! },
      ]),
  );
  const board = new FakeGpioBoard(realClock);
  let edge: EdgeRuntime;

  beforeAll(async () => {
    const port = await sim.listen(0);
    sim.device(2).set('lamp-fault', true);
    simAction(sim.device(10), 'level', 1.5);
    simAction(sim.device(10), 'thermal-trip', 2);
    const config = parseGatewayConfig(
      {
        version: 2,
        id: 'gw-site',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' }, // no uplink at all
        lines: [
          {
            id: 'bus',
            type: 'tcp',
            host: '127.0.0.1',
            port,
            timeoutMs: 400,
            backoff: { minMs: 200, maxMs: 1000 },
          },
        ],
        devices: [
          { id: 'light-1', profile: 'citygate/slc-100', line: 'bus', unitId: 1, pollMs: 200 },
          { id: 'light-2', profile: 'citygate/slc-100', line: 'bus', unitId: 2, pollMs: 200 },
          { id: 'light-3', profile: 'citygate/slc-100', line: 'bus', unitId: 3, pollMs: 200 }, // not wired
          { id: 'bin-1', profile: 'citygate/wbs-10', line: 'bus', unitId: 21, pollMs: 200 },
          { id: 'ps', profile: 'citygate/psc-200', line: 'bus', unitId: 10, pollMs: 200 },
        ],
        gpio: [{ id: 'cabinet', profile: 'citygate/cabinet-io' }],
        interlocks: [
          {
            id: 'pump2-protect',
            if: { point: 'ps.pump2-thermal-trip', op: '==', value: true },
            force: { 'ps.pump2-run': false },
          },
        ],
      },
      profiles,
    );
    edge = await startEdge({
      config,
      profiles,
      dataDir: dir.path,
      log: memoryLogger('warn'),
      gpio: board.backend(),
    });
  });
  afterAll(async () => {
    await edge?.stop();
    await sim.close();
    dir.cleanup();
  });

  it('names the faulty and the dead device, checks the door and a blink, and stores the report', async () => {
    const child = startCli([
      'commission',
      '--gateway',
      dir.path,
      '--by',
      'Nguyễn Văn An',
      '--blink',
      '--jog-pumps',
      '--door-timeout',
      '10',
    ]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('door prompt', () => out.includes('Open the cabinet door now'), 30_000);
    board.setLevel(5, 1); // the technician opens the door
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code, out).toBe(1); // failed: a lamp fault and a dead unit
    expect(out).toMatch(/FAIL\s+light-2 answers and reads plausibly\s+answers; .*reports a lamp fault/);
    expect(out).toMatch(/FAIL\s+light-3 answers\s+no answer: check address, wiring/);
    expect(out).toMatch(/PASS\s+light-1 answers and reads plausibly/);
    expect(out).toMatch(/PASS\s+bin-1 answers and reads plausibly\s+answers; fill 0 %/);
    expect(out).toMatch(/PASS\s+light-1 switches off and on/);
    expect(out).toMatch(/FAIL\s+light-2 switches off and on/);
    expect(out).toMatch(/PASS\s+cabinet door switch toggles/);
    expect(out).toMatch(/PASS\s+ps pump 1 runs when jogged\s+started and stopped/);
    expect(out).toMatch(/WARN\s+ps pump 2 runs when jogged\s+.*interlock 'pump2-protect' is active/);
    expect(out).toMatch(/WARN\s+uplink to the fleet/);
    const files = readdirSync(join(dir.path, 'commissioning'));
    expect(files).toHaveLength(1);
    const report = JSON.parse(
      readFileSync(join(dir.path, 'commissioning', files[0]!), 'utf8'),
    ) as CommissioningReport;
    expect(report).toMatchObject({ gateway: 'gw-site', by: 'Nguyễn Văn An', passed: false });
    expect(report.readings.some((r) => r.device === 'light-1' && r.point === 'power')).toBe(true);
  }, 60_000);

  it('serves a live checklist page on the local port, readable only with the printed link', async () => {
    const link = (await runCli(['commission', '--gateway', dir.path, '--page'])).stdout.trim();
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/local\/commission#token=[\w-]+$/);
    const browser = await chromium.launch({
      executablePath: '/usr/lib/chromium/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      await page.goto(link);
      await page.waitForSelector('li.fail');
      expect(await page.textContent('#items')).toMatch(/FAIL · light-2 answers and reads plausibly/);
      await page.goto(link.split('#')[0]!);
      await expect
        .poll(() => page.textContent('#summary'))
        .toContain('open this page with the link printed by citygate commission --page');
    } finally {
      await browser.close();
    }
  });

  it('refuses to run without saying who commissions', async () => {
    const child = startCli(['commission', '--gateway', dir.path]);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => child.on('exit', r))).toBe(2);
    expect(err).toContain('missing --by NAME');
  });
});
