/**
 * Glue between the downlink and the config verifier: each `config/desired` is verified (one at a
 * time, in arrival order) and the verdict goes back on `config/reported` through the outbox, so a
 * report survives a lost connection like any other event. Wire it as
 * `new Downlink(…, { configDesired: configDesiredHandler({ verifier, outbox, now, log }) })`.
 */
import type { ConfigDesired } from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ConfigVerdict, ConfigVerifier } from './config-verify.js';
import type { Outbox } from './outbox.js';

export function configDesiredHandler(o: {
  verifier: ConfigVerifier;
  outbox: Pick<Outbox, 'put'>;
  now: () => number;
  log: Logger;
  /** After each report is stored (e.g. wake the uplink). */
  afterReport?: (v: ConfigVerdict) => void;
}): (desired: ConfigDesired) => void {
  let chain = Promise.resolve();
  return (desired) => {
    chain = chain.then(async () => {
      const v = await o.verifier.handle(JSON.stringify(desired));
      if (v.status === 'applied' && !v.unchanged) o.log.info(`applied desired config v${v.version}`);
      if (v.status === 'rejected') o.log.warn(`rejected desired config v${v.version}: ${v.error}`);
      const body = {
        version: v.version,
        status: v.status,
        ...(v.status === 'rejected' ? { error: v.error.slice(0, 2000) } : {}),
      };
      try {
        await o.outbox.put('config/reported', [{ body, ts: o.now() }]);
        o.afterReport?.(v);
      } catch (err) {
        o.log.error(`config report v${v.version} not stored: ${errorMessage(err)}`);
      }
    });
  };
}
