/** Bench child: a share of the simulated gateways (mqtt.js), driven over IPC. */
import mqtt, { type MqttClient } from 'mqtt';
import { verifyConfigSignature } from '../../common/config-signature.js';
import {
  decode,
  encode,
  PROTOCOL_VERSION,
  topics,
  type ConfigReported,
} from '../../common/contract/index.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { loadProfiles } from '../../hardware/src/profile.js';

const profiles = loadProfiles();
const send = (m: unknown) => process.send!(m);
const clients = new Map<string, MqttClient>();
const seq = new Map<string, number>();
let applied = 0;
let target = 0;

interface Connect {
  cmd: 'connect';
  url: string;
  ids: string[];
  secret?: string;
  ca?: string;
  configPublicKey?: string;
}

function report(c: MqttClient, id: string, version: number, ok: boolean, error?: string) {
  const n = (seq.get(id) ?? 0) + 1;
  seq.set(id, n);
  const msg: ConfigReported = {
    v: PROTOCOL_VERSION,
    gateway: id,
    epoch: '0123456789abcdef',
    session: 1,
    seq: n,
    sentAt: Date.now(),
    version,
    status: ok ? 'applied' : 'rejected',
    ...(error ? { error } : {}),
  };
  c.publish(topics.configReported(id), encode('config/reported', msg), { qos: 1 });
}

async function connect(m: Connect) {
  const t0 = Date.now();
  const one = (id: string) =>
    new Promise<void>((resolve, reject) => {
      const c = mqtt.connect(m.url, {
        clientId: id,
        ...(m.secret ? { username: id, password: m.secret } : {}),
        ...(m.ca ? { ca: m.ca } : {}),
        reconnectPeriod: 0,
        keepalive: 600,
        connectTimeout: 60_000,
      });
      c.once('connect', () => {
        clients.set(id, c);
        c.subscribe(topics.configDesired(id), { qos: 1 }, (err) => (err ? reject(err) : resolve()));
      });
      c.once('error', reject);
      c.on('message', (_t, payload) => {
        if (m.configPublicKey) {
          const d = decode('config/desired', id, payload);
          if (!d.ok) return report(c, id, 0, false, d.error);
          if (!verifyConfigSignature(d.value, m.configPublicKey))
            return report(c, id, d.value.version, false, 'bad signature');
          try {
            parseGatewayConfig({ ...d.value.config }, profiles);
          } catch (err) {
            return report(c, id, d.value.version, false, String(err));
          }
          report(c, id, d.value.version, true);
        } else report(c, id, 1, true);
        if (++applied === target) send({ allApplied: true });
      });
    });
  const WAVE = 100;
  for (let i = 0; i < m.ids.length; i += WAVE) await Promise.all(m.ids.slice(i, i + WAVE).map(one));
  send({ connected: m.ids.length, ms: Date.now() - t0 });
}

async function telemetry(m: { publishers: number; batches: number; readings: number }) {
  const ids = [...clients.keys()].slice(0, m.publishers);
  const t0 = Date.now();
  await Promise.all(
    ids.map(async (id) => {
      const c = clients.get(id)!;
      let rid = 0;
      for (let b = 0; b < m.batches; b++) {
        const n = (seq.get(id) ?? 0) + 1;
        seq.set(id, n);
        const now = Date.now();
        const batch = {
          v: PROTOCOL_VERSION,
          gateway: id,
          epoch: '0123456789abcdef',
          session: 1,
          seq: n,
          sentAt: now,
          readings: Array.from({ length: m.readings }, (_, k) => ({
            id: ++rid,
            device: `d-${k % 4}`,
            point: 'power',
            value: k,
            unit: 'W',
            ts: now,
          })),
        };
        await c.publishAsync(topics.telemetry(id), JSON.stringify(batch), { qos: 1 });
      }
    }),
  );
  send({ published: ids.length * m.batches, ms: Date.now() - t0 });
}

process.on('message', (m: { cmd: string }) => {
  const fail = (err: unknown) => send({ error: String(err) });
  if (m.cmd === 'connect') {
    const c = m as Connect;
    applied = 0;
    target = c.ids.length;
    void connect(c).catch(fail);
  }
  if (m.cmd === 'expect') applied = 0;
  if (m.cmd === 'telemetry') void telemetry(m as unknown as Parameters<typeof telemetry>[0]).catch(fail);
  if (m.cmd === 'disconnect') {
    for (const c of clients.values()) c.end(true);
    clients.clear();
    seq.clear();
    send({ disconnected: true });
  }
  if (m.cmd === 'stop') process.exit(0);
});
