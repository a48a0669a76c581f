/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ChildProcess } from 'node:child_process';
import { packageRoot } from '../../../common/package-root.js';
import { startDemo } from '../../cli/run-cli.js';
import { fakeBundle, testKey } from '../../edge/updater/fake-release.js';
import { tempDir, waitFor } from '../../helpers.js';

const CHROMIUM = '/usr/lib/chromium/chromium';
const SHOTS = join(packageRoot(), 'test-results', 'screenshots');
type DemoRole = 'viewer' | 'operator' | 'admin';

/**
 * The dashboard in Debian's Chromium against a running `citygate demo` with its security on:
 * each role signs in with its own API token; an operator commands, a viewer only looks.
 */

/** uPlot's legend stamp (`{YYYY}-{MM}-{DD} {h}:{mm}{aa}`) of `ts` in Hanoi time. */
function hanoiStamp(ts: number): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: 'Asia/Ho_Chi_Minh',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: 'numeric',
      minute: '2-digit',
      hour12: true,
    })
      .formatToParts(new Date(ts))
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${String(p.dayPeriod).toLowerCase()}`;
}

describe('fleet dashboard in a real browser', () => {
  const dir = tempDir();
  const releaseKey = testKey();
  let demo: ChildProcess;
  let url = '';
  let tokens: Record<DemoRole, string>;
  let browser: Browser;
  const pages: Partial<Record<DemoRole, Page>> = {};
  const pageErrors: string[] = [];

  const api = async (
    role: DemoRole,
    method: string,
    path: string,
    body?: unknown,
    type = 'application/json',
  ) => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: {
        authorization: `Bearer ${tokens[role]}`,
        ...(body !== undefined ? { 'content-type': type } : {}),
      },
      body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  /** A fresh browser context (its own sessionStorage) signed in through the login form. */
  async function signIn(role: DemoRole, viewport = { width: 1200, height: 850 }): Promise<Page> {
    // The browser in UTC: the dashboard must still show Hanoi time.
    const ctx = await browser.newContext({ viewport, timezoneId: 'UTC' });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${role}: ${String(e)}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`${role}: ${m.text()}`));
    await page.goto(url);
    await page.fill('#token', tokens[role]);
    await page.click('#login button[type=submit]');
    await page.waitForSelector(`#who:has-text("(${role})")`, { timeout: 10_000 });
    pages[role] = page;
    return page;
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The fleet trusts this release key, so the test can start a rollout the dashboard then shows.
    mkdirSync(join(dir.path, 'fleet', 'keys', 'releases'), { recursive: true });
    writeFileSync(join(dir.path, 'fleet', 'keys', 'releases', 'test.pem'), releaseKey.publicKeyPem);
    const started = startDemo(dir.path, 4, ['--speed', '10']);
    demo = started.child;
    const out = () => started.output();
    url = await waitFor('dashboard URL', () => /dashboard\s+(http:\/\/\S+\/)/.exec(out())?.[1], 25_000);
    expect(out()).toContain(`sign in     with a token from ${join(dir.path, 'api-tokens.json')}`);
    tokens = JSON.parse(readFileSync(join(dir.path, 'api-tokens.json'), 'utf8')) as Record<DemoRole, string>;
    // Secrets stay in files: the demo's output names the file, never a token.
    for (const t of Object.values(tokens)) expect(out()).not.toContain(t);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
  }, 45_000);

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await exited;
    }
    dir.cleanup();
  });

  it('asks for a token, then shows the map with every gateway of the district', async () => {
    const page = await signIn('operator');
    await page.waitForFunction(
      () => document.querySelectorAll('svg.map circle.gw.ok, svg.map circle.gw.bad').length === 4,
      null,
      { timeout: 20_000 },
    );
    const ids = await page.$$eval('svg.map [data-gw]', (els) =>
      els.map((e) => (e as HTMLElement).dataset.gw).sort(),
    );
    expect(ids).toEqual(['gw-1', 'gw-2', 'gw-3', 'gw-4']);
    await expect.poll(() => page.textContent('#summary'), { timeout: 10_000 }).toBe('4/4 gateways online');
    // Each gateway's devices ring it, coloured by their own health: gw-3's failed lamp is red.
    await page.waitForSelector('[data-gw="gw-3"] circle.dev.bad[data-device="light-2"]', { timeout: 30_000 });
    const devs = await page.$$eval('[data-gw="gw-1"] circle.dev', (els) =>
      els.map((e) => (e as SVGElement).dataset.device),
    );
    expect(devs).toEqual(expect.arrayContaining(['light-1', 'light-6', 'bin-1', 'bin-2']));
    const bad = await page.$$eval('[data-gw="gw-1"] circle.dev.bad title', (els) =>
      els.map((e) => e.textContent),
    );
    expect(bad).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'map.png') });
  });

  it('lists active alarms and acknowledges one as the operator', async () => {
    const page = pages.operator!;
    // gw-3's failed lamp raises the lamp-fault alarm through its local rules.
    const row = page.locator('#alarms tr[data-alarm^="gw-3/"]', { hasText: 'lamp fault' });
    await row.waitFor({ timeout: 45_000 });
    await row.locator('button.ack').click();
    await expect
      .poll(() => page.locator('#alarms tr[data-alarm^="gw-3/"]', { hasText: 'lamp fault' }).textContent(), {
        timeout: 10_000,
      })
      .toContain('ack by demo-operator');
  }, 60_000);

  it('overrides every light of a zone after a confirmation, and the simulated lamps follow', async () => {
    const page = pages.operator!;
    const form = page.locator('#override-panel form.override');
    await form.locator('select[name=scope]').selectOption({ label: 'zone lake (3 gateways)' });
    await form.locator('input[name=pct]').fill('37');
    await form.locator('input[name=hours]').fill('1');
    await form.locator('input[name=why]').fill('browser test: night market');
    await form.locator('button[type=submit]').click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    // The confirmation names exactly what will change: 3 gateways × 6 lights in the lake zone.
    expect(await dialog.textContent()).toContain(
      'Set 18 street lights at 3 gateway(s) — zone lake — to 37 % for 1 h?',
    );
    await page.screenshot({ path: join(SHOTS, 'override-confirm.png') });
    await page.click('#confirm-ok');
    for (const gw of ['gw-2', 'gw-3', 'gw-4'])
      await expect
        .poll(() => page.locator(`#override-panel table.results tr[data-gw="${gw}"]`).textContent(), {
          timeout: 20_000,
        })
        .toContain('applied');
    expect(await page.locator('#override-panel table.results tr[data-gw="gw-1"]').count()).toBe(0);

    // The gateway's own readings of the simulator show the override: light-1 of gw-4 dims to 37 %.
    await page.click('#gateways tr[data-gw="gw-4"]');
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#points tr')].some((tr) => {
          const c = [...tr.querySelectorAll('td')].map((td) => td.textContent);
          return c[0] === 'light-1' && c[1] === 'dim' && c[2] === '37';
        }),
      null,
      { timeout: 30_000 },
    );
    await expect
      .poll(() => page.textContent('#commands'), { timeout: 10_000 })
      .toMatch(/override 12 point\(s\) for 60 min: browser test: night market.*demo-operator.*applied/);
  });

  it('writes a single point with a confirmation, and refuses a value that is not one', async () => {
    const page = pages.operator!;
    await page.goto(`${url}#/gw/gw-1`); // gw-1 is outside the overridden zone
    const form = page.locator('main[data-gw="gw-1"] #gw-write form');
    await form.waitFor({ timeout: 10_000 });
    await form.locator('select[name=key]').selectOption('light-2.dim');
    await form.locator('input[name=value]').fill('abc');
    await form.locator('button[type=submit]').click();
    expect(await page.textContent('#write-result')).toBe("'abc' is not a number, true or false");
    await form.locator('input[name=value]').fill('64');
    await form.locator('button[type=submit]').click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    expect(await page.textContent('dialog#confirm')).toContain('Write light-2.dim = 64 on gw-1?');
    await page.click('#confirm-ok');
    await expect.poll(() => page.textContent('#write-result'), { timeout: 15_000 }).toBe('done');
  });

  it('opens a gateway, lists its devices with units, and its chart updates', async () => {
    const page = pages.operator!;
    await page.goto(`${url}#/`);
    await page.click('[data-gw="gw-3"] circle');
    await page.waitForSelector('#chart canvas', { timeout: 10_000 });
    await expect.poll(() => page.$$eval('#points tr', (r) => r.length)).toBeGreaterThan(10);
    expect(await page.textContent('#points')).toContain('W');
    const first = await page.getAttribute('#chart', 'data-last');
    await expect.poll(() => page.getAttribute('#chart', 'data-last'), { timeout: 15_000 }).not.toBe(first);
    // The chart speaks Hanoi time in a UTC browser: the legend at the newest point reads as in Hanoi.
    const box = (await page.$('#chart .u-over'))!;
    const { width } = (await box.boundingBox())!;
    const lastBefore = Number(await page.getAttribute('#chart', 'data-last'));
    await box.hover({ position: { x: width - 1, y: 5 } });
    const legend = await page.textContent('#chart .u-legend .u-series:first-child .u-value');
    const lastAfter = Number(await page.getAttribute('#chart', 'data-last'));
    expect([lastBefore, lastAfter].map(hanoiStamp)).toContain(legend);
    // gw-3 has a failed lamp on purpose: the page says so.
    expect(await page.textContent('#gw-meta')).toMatch(/[1-9] fault\(s\)/);
    // Connection and outbox health, software and config state, as the gateway reported them.
    await expect
      .poll(() => page.textContent('#gw-health'), { timeout: 15_000 })
      .toMatch(/uplinkonline, session 1/);
    const health = await page.textContent('#gw-health');
    expect(health).toMatch(/outbox alarm\d+ rows/);
    expect(health).toMatch(/outbox telemetry\d+ rows/);
    expect(health).toContain('configunmanaged');
    expect(health).toContain('flowsnone assigned');
    expect(health).toMatch(/line eth0\d+\.\d % busy/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'gateway.png') });
  });

  it('makes a claim token (shown once) and deletes it, as the admin', async () => {
    const page = await signIn('admin');
    await page.click('header nav a[href="#/claims"]');
    await page.fill('#new-claim input[name=group]', 'lake-pilot');
    await page.click('#new-claim button[type=submit]');
    await page.waitForSelector('#claim-made:not([hidden])');
    expect(await page.textContent('#claim-token')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    const row = page.locator('#claims tr[data-claim]', { hasText: 'lake-pilot' });
    await row.waitFor();
    const listed = await api('admin', 'GET', '/api/v1/claim-tokens');
    expect(JSON.stringify(listed.body)).toContain('lake-pilot');
    await page.screenshot({ path: join(SHOTS, 'claims.png') });
    await row.locator('button').click();
    await page.click('#confirm-ok');
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(0);
    expect(JSON.stringify((await api('admin', 'GET', '/api/v1/claim-tokens')).body)).not.toContain(
      'lake-pilot',
    );
  });

  it('shows a rollout with its waves and progress, and the admin aborts it', async () => {
    const bundle = await fakeBundle(join(dir.path, 'release'), releaseKey, '9.9.9', 'good');
    const up = await api(
      'admin',
      'POST',
      '/api/v1/releases',
      readFileSync(bundle),
      'application/octet-stream',
    );
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    const created = await api('admin', 'POST', '/api/v1/rollouts', {
      version: '9.9.9',
      target: { kind: 'all' },
      waves: [{ count: 1 }, { percent: 100 }],
      successThresholdPercent: 100,
      maxFailures: 1,
      gatewayTimeoutMs: 3_600_000,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const page = pages.admin!;
    await page.click('header nav a[href="#/rollouts"]');
    const card = page.locator('section.rollout', { hasText: '9.9.9' });
    await card.waitFor({ timeout: 10_000 });
    expect(await card.locator('tr.wave').count()).toBe(2);
    expect(await card.locator('.bar').count()).toBe(2);
    expect(await card.textContent()).toMatch(/0\/4 gateways updated/);
    await page.screenshot({ path: join(SHOTS, 'rollouts.png') });
    await card.locator('button[data-action=abort]').click();
    await page.click('#confirm-ok');
    await expect.poll(() => card.locator('.state').textContent(), { timeout: 10_000 }).toBe('aborted');
  });

  it('lists flow sets, takes gw-2 local flows in, deploys a version through the dialog and follows it', async () => {
    // gw-2 runs the default Node-RED flows, never deployed from the fleet: drift to take in.
    const flows = [
      { id: 'bt-tab', type: 'tab', label: 'browser test' },
      { id: 'bt-inject', type: 'inject', z: 'bt-tab', name: 'tick', repeat: '', once: false, wires: [[]] },
    ];
    const pub = await api('admin', 'POST', '/api/v1/flow-sets/browser-test', { flows });
    expect(pub.status, JSON.stringify(pub.body)).toBe(201);
    const page = pages.admin!;
    await page.click('header nav a[href="#/flows"]');
    await page
      .locator('table.versions[data-set="browser-test"] tr[data-version="1"]', { hasText: '2 nodes' })
      .waitFor({ timeout: 10_000 });
    const gw2 = page.locator('#flow-status tr[data-gw="gw-2"]');
    const gw2Text = async () => (await gw2.textContent())?.replace(/\s+/g, ' ');
    await expect.poll(gw2Text, { timeout: 20_000 }).toContain('drift');
    // A gateway running its own flows needs a name for the new set; the take-in makes it v1 of that set.
    await gw2.locator('button.take-in').click();
    expect(await page.textContent('#flow-msg')).toContain('name the new set');
    await gw2.locator('input[name=set]').fill('lake-control');
    await gw2.locator('button.take-in').click();
    expect(await page.textContent('dialog#confirm')).toContain(
      "Take gw-2's running flows in as a new flow set 'lake-control'?",
    );
    await page.click('#confirm-ok');
    await page
      .locator('table.versions[data-set="lake-control"] tr[data-version="1"]', {
        hasText: 'taken in from gw-2',
      })
      .waitFor({ timeout: 10_000 });
    await expect.poll(gw2Text, { timeout: 20_000 }).toMatch(/(applied|in-sync).*lake-control v1/);

    const form = page.locator('#deploy-form');
    await form.locator('select[name=version]').selectOption({ label: 'browser-test v1' });
    await form.locator('select[name=target]').selectOption({ label: 'gateway gw-2' });
    await form.locator('button[type=submit]').click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await dialog.textContent()).toContain('Deploy browser-test v1 to 1 gateway: gw-2?');
    await page.screenshot({ path: join(SHOTS, 'flows-confirm.png') });
    await page.click('#confirm-ok');
    const result = page.locator('#flow-deploy table.results tr[data-gw="gw-2"]');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('applied v1');
    await expect.poll(gw2Text, { timeout: 10_000 }).toMatch(/applied.*browser-test v1/);
    expect(await gw2.locator('.dot.ok').count()).toBe(1);
    const status = await api('admin', 'GET', '/api/v1/gateways/gw-2/flows');
    expect(status.body).toMatchObject({ assigned: { name: 'browser-test', version: 1 }, inSync: true });
    await page.screenshot({ path: join(SHOTS, 'flows.png') });
  }, 60_000);

  it('lets a viewer look but not command', async () => {
    const page = await signIn('viewer');
    await page.waitForSelector('svg.map circle.gw', { timeout: 20_000 });
    await page.locator('#alarms').waitFor({ timeout: 20_000 });
    expect(await page.locator('#override-panel form').count()).toBe(0);
    expect(await page.locator('button.ack').count()).toBe(0);
    expect(await page.locator('header nav a[href="#/claims"]').count()).toBe(0);
    await page.click('#gateways tr[data-gw="gw-1"]');
    await page.waitForSelector('#points tr', { timeout: 10_000 });
    expect(await page.locator('#gw-override, #gw-write').count()).toBe(0);
    // And the API refuses a viewer's command even if sent by hand.
    const r = await api('viewer', 'POST', '/api/v1/gateways/gw-1/overrides', {
      why: 'viewer tries',
      set: { 'light-1.dim': 100 },
      durationMs: 60_000,
    });
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toContain("role 'viewer' may not operate");
    // The flows page is read-only for a viewer: the states, no deploy or take-in, and the API says no.
    await page.click('header nav a[href="#/flows"]');
    await page
      .locator('#flow-status tr[data-gw="gw-2"]', { hasText: 'browser-test v1' })
      .waitFor({ timeout: 10_000 });
    await page.locator('table.versions[data-set="browser-test"]').waitFor();
    expect(await page.locator('#deploy-form, button.take-in, #flow-status input').count()).toBe(0);
    const d = await api('viewer', 'POST', '/api/v1/flow-sets/browser-test/deploy', { gateway: 'gw-2' });
    expect(d.status).toBe(403);
  });

  it('works on a phone-sized screen', async () => {
    const page = pages.operator!;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${url}#/`);
    await page.waitForSelector('svg.map circle.gw');
    await page.waitForSelector('#override-panel form');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    // On failure, name the elements that stick out.
    const wide = await page.$$eval('body *', (els) =>
      els
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className}`)
        .slice(0, 8),
    );
    expect(overflow, wide.join(' ')).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
    // The flows page too, with its deploy form (the operator may configure).
    await page.goto(`${url}#/flows`);
    await page.waitForSelector('#deploy-form select[name=target] option', { state: 'attached' });
    await page.waitForSelector('#flow-status tr[data-gw="gw-2"]');
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'phone-flows.png'), fullPage: true });
  });

  it('raised no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
