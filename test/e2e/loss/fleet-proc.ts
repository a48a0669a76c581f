/**
 * The fleet as its own process, so a test can kill -9 it mid-ingest. env: DATA, MQTT_PORT (embedded
 * aedes on that port) or EXTERNAL (a broker URL). Prints `R` once ingesting.
 */
import { createLogger } from '../../../common/log.js';
import { startFleet } from '../../../fleet/src/main.js';

const external = process.env.EXTERNAL;
await startFleet({
  dataDir: process.env.DATA!,
  httpPort: 0,
  mqttPort: Number(process.env.MQTT_PORT ?? 0),
  externalBroker: external ? { url: external } : undefined,
  security: 'open',
  log: createLogger({ level: 'error' }),
});
process.stdout.write('R\n');
