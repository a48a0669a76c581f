/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ChildProcess } from 'node:child_process';
import { packageRoot } from '../../../common/package-root.js';
import { startCli } from '../../cli/run-cli.js';
import { tempDir, waitFor } from '../../helpers.js';

const CHROMIUM = '/usr/lib/chromium/chromium';
const SHOTS = join(packageRoot(), 'test-results', 'screenshots');

/** The dashboard in Debian's Chromium against a running `citygate demo`. */
describe('fleet dashboard in a real browser', () => {
  const dir = tempDir();
  let demo: ChildProcess;
  let url = '';
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = startCli([
      'demo',
      '--data',
      dir.path,
      '--gateways',
      '4',
      '--speed',
      '10',
      '--http-port',
      '0',
      '--mqtt-port',
      '0',
    ]);
    let out = '';
    demo.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    url = await waitFor('dashboard URL', () => /dashboard\s+(http:\/\/\S+\/)/.exec(out)?.[1], 20_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 850 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  }, 40_000);

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await exited;
    }
    dir.cleanup();
  });

  it('shows the map with every gateway of the district', async () => {
    await page.goto(url);
    await page.waitForFunction(
      () => document.querySelectorAll('svg.map circle.gw.ok, svg.map circle.gw.bad').length === 4,
      null,
      { timeout: 20_000 },
    );
    const ids = await page.$$eval('svg.map [data-gw]', (els) =>
      els.map((e) => (e as HTMLElement).dataset.gw).sort(),
    );
    expect(ids).toEqual(['gw-1', 'gw-2', 'gw-3', 'gw-4']);
    expect(await page.textContent('#summary')).toBe('4/4 gateways online');
    await page.screenshot({ path: join(SHOTS, 'map.png') });
  });

  it('lists active alarms and acknowledges one', async () => {
    // gw-3's failed lamp raises the lamp-fault alarm through its local rules.
    const row = page.locator('#alarms tr[data-alarm^="gw-3/"]', { hasText: 'lamp fault' });
    await row.waitFor({ timeout: 30_000 });
    await row.locator('button.ack').click();
    await expect
      .poll(() => page.locator('#alarms tr[data-alarm^="gw-3/"]', { hasText: 'lamp fault' }).textContent(), {
        timeout: 10_000,
      })
      .toContain('ack by operator');
  });

  it('opens a gateway, lists its devices with units, and its chart updates', async () => {
    await page.click('[data-gw="gw-3"] circle');
    await page.waitForSelector('#chart canvas', { timeout: 10_000 });
    await expect.poll(() => page.$$eval('#points tr', (r) => r.length)).toBeGreaterThan(10);
    expect(await page.textContent('#points')).toContain('W');
    const first = await page.getAttribute('#chart', 'data-last');
    await expect.poll(() => page.getAttribute('#chart', 'data-last'), { timeout: 15_000 }).not.toBe(first);
    // gw-3 has a failed lamp on purpose: the page says so.
    expect(await page.textContent('#gw-meta')).toMatch(/[1-9] fault\(s\)/);
    await page.screenshot({ path: join(SHOTS, 'gateway.png') });
  });

  it('works on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url);
    await page.waitForSelector('svg.map circle.gw');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
  });

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
