/** Bench child: one fleet (embedded aedes, security enforced) with N gateways seeded, driven over IPC. */
import { join } from 'node:path';
import { realClock } from '../../common/clock.js';
import { createLogger } from '../../common/log.js';
import { Db } from '../../common/sqlite.js';
import { startFleet } from '../../fleet/src/main.js';
import { hashSecret } from '../../fleet/src/provisioning/secret-hash.js';

const send = (m: unknown) => process.send!(m);
const BENCH_SCRYPT = { N: 1024, r: 8, p: 1 };

process.once('message', (msg: { dir: string; n: number; secret: string; tls: boolean }) => {
  void (async () => {
    const log = createLogger({ level: 'error' });
    const opts = {
      dataDir: msg.dir,
      httpPort: 0,
      mqttPort: 0,
      mqttTlsPort: 0,
      scryptCost: BENCH_SCRYPT,
      log,
    };
    // First start creates the schema; then seed N provisioned, managed gateways directly (the bench
    // measures connecting and pushing, not N HTTP round trips).
    await (await startFleet(opts)).stop();
    const db = await Db.open(join(msg.dir, 'fleet-admin.db'));
    const hash = await hashSecret(msg.secret, BENCH_SCRYPT);
    const ids = Array.from({ length: msg.n }, (_, i) => `gw-${String(i).padStart(5, '0')}`);
    const now = realClock.now();
    await db.insertMany(
      'INSERT INTO gateway_credentials (gateway, group_id, secret_hash, mosquitto_hash, created_at, revoked_at)',
      6,
      ids.map((id) => [id, null, hash, null, now, null]),
    );
    await db.insertMany(
      'INSERT INTO config_layers (scope, doc, updated_at)',
      3,
      ids.map((id) => [`gateway:${id}`, JSON.stringify({ lines: [], devices: [] }), now]),
    );
    await db.close();
    const fleet = await startFleet(opts);
    send({
      ready: true,
      httpUrl: fleet.httpUrl,
      mqttUrl: msg.tls ? fleet.mqttTlsUrl : fleet.mqttUrl,
      adminToken: (await import('node:fs')).readFileSync(join(msg.dir, 'admin-token'), 'utf8').trim(),
      caCert: fleet.admin!.pki.caCert,
      configPublicKey: fleet.admin!.configPublicKey,
    });
    process.on('message', (m: { cmd: string }) => {
      if (m.cmd === 'stop') void fleet.stop().then(() => process.exit(0));
    });
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
