/** Our gateway's Uplink draining an outbox, for the bench and its peer process. */
import { realClock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { Outbox } from '../../edge/src/outbox.js';
import { Uplink } from '../../edge/src/uplink.js';
import { BATCH } from './payloads.js';

/**
 * Start draining `o` to the broker at `url` as gateway `gw`; resolves once `rows` readings were
 * acknowledged (their rows deleted: the outbox is empty), with the Uplink's stop.
 */
export async function drainOutbox(
  o: Outbox,
  url: string,
  gw: string,
  rows: number,
  log: Logger,
): Promise<() => Promise<void>> {
  let acked = 0;
  let drained!: () => void;
  const done = new Promise<void>((resolve) => (drained = resolve));
  const up = new Uplink(
    {
      gatewayId: gw,
      mqttUrl: url,
      version: 'bench',
      backlogRowsPerSec: Infinity,
      batchSize: BATCH,
      onAck: (a) => (acked += a.count) >= rows && drained(),
    },
    o,
    realClock,
    log,
  );
  up.start();
  await done;
  return () => up.stop();
}
