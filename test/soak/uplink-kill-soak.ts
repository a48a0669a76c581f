/**
 * Longer soak of the kill -9 test: `node --import tsx test/soak/uplink-kill-soak.ts [cycles] [aedes|mosquitto]`
 * (default 500 cycles, aedes; CITYGATE_SEED to replay). Kills edge processes at random moments of their
 * bursts in two lanes, drains, and checks every committed reading and alarm is stored exactly once.
 */
import { killEdgeScenario } from '../e2e/loss/kill-edge.js';

const cycles = Number(process.argv[2] ?? 500);
const broker = (process.argv[3] ?? 'aedes') as 'aedes' | 'mosquitto';
const t0 = Date.now();
const t = await killEdgeScenario(broker, Math.ceil(cycles / 2));
console.log(
  `soak ok: ${cycles} kills against ${broker} in ${Math.round((Date.now() - t0) / 1000)} s: ` +
    `${t.readings} readings and ${t.alarms} alarms exactly once (${t.resent} re-sent items deduplicated)`,
);
process.exit(0);
