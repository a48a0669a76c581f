import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../../edge/src/node-red/red.js';
import { PUMP_UNIT, startCity, until, type City } from './city-fixture.js';

const CHROMIUM = '/usr/lib/chromium/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

describe('the Node-RED editor on the gateway, in a browser', () => {
  let city: City;
  let browser: Browser;
  beforeAll(async () => {
    city = await startCity({
      adminAuth: { username: 'admin', passwordHash: hashPassword('street-lamp-42', 4) },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await city?.stop();
  });

  it('refuses the admin API without a login', async () => {
    expect((await fetch(`${city.red.url}/flows`)).status).toBe(401);
  });

  it('logs in, shows the CityGate palette, and a changed flow deployed from the editor drives a device', async () => {
    const page = await browser.newPage();
    await page.goto(city.red.url);
    await page.fill('#node-dialog-login-username', 'admin');
    await page.fill('#node-dialog-login-password', 'street-lamp-42');
    await page.click('#node-dialog-login-submit');
    await page.waitForSelector(
      '#red-ui-palette .red-ui-palette-node[data-palette-type="citygate-device-out"]',
      {
        timeout: 15_000,
      },
    );
    const types = await page.$$eval(
      '#red-ui-palette .red-ui-palette-node[data-palette-type^="citygate-"]',
      (els) => els.map((e) => e.getAttribute('data-palette-type')).sort(),
    );
    expect(types).toEqual([
      'citygate-alarm',
      'citygate-device-in',
      'citygate-device-out',
      'citygate-schedule',
      'citygate-telemetry',
    ]);
    // The default flows are there.
    expect(await page.locator('.red-ui-tab-label', { hasText: 'Pump station' }).count()).toBe(1);

    // Change the pump-station flow: an inject wired to a new device out (as a paste would add them),
    // whose device and point are filled in through the node's own edit form.
    await page.evaluate(() => {
      const RED = (window as unknown as { RED: Record<string, any> }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      RED.workspaces.show('cg-tab-pump');
      RED.view.importNodes(
        [
          {
            id: 'b-inj',
            type: 'inject',
            z: 'cg-tab-pump',
            once: true,
            onceDelay: 0.1,
            repeat: '',
            payloadType: 'num',
            payload: '42',
            topic: '',
            props: [{ p: 'payload' }],
            x: 150,
            y: 420,
            wires: [['b-out']],
          },
          {
            id: 'b-out',
            type: 'citygate-device-out',
            z: 'cg-tab-pump',
            gateway: 'cg-gw-pump',
            device: '',
            point: '',
            x: 400,
            y: 420,
            wires: [[]],
          },
        ],
        { generateIds: false },
      );
      RED.editor.edit(RED.nodes.node('b-out'));
    });
    await page.waitForSelector('#node-input-device', { state: 'visible' });
    await page.fill('#node-input-device', 'pump-station');
    await page.fill('#node-input-point', 'pump1-freq-sp');
    await page.click('#node-dialog-ok');
    await page.click('#red-ui-header-button-deploy');
    await until(
      () => city.sim.device(PUMP_UNIT).get('pump1-freq-sp') === 42,
      'pump 1 setpoint 42 Hz from the edited flow',
    );
    const saved = await page.evaluate(() => {
      const RED = (window as unknown as { RED: Record<string, any> }).RED; // eslint-disable-line @typescript-eslint/no-explicit-any
      const n = RED.nodes.node('b-out');
      return { device: n.device, point: n.point, valid: n.valid, dirty: RED.nodes.dirty() };
    });
    expect(saved).toEqual({ device: 'pump-station', point: 'pump1-freq-sp', valid: true, dirty: false });
    await page.close();
  });
});
