import {
  decode,
  parseTopic,
  type CommandRequest,
  type ConfigDesired,
  type FlowsDesired,
  type UpdateControl,
} from '../../common/contract/index.js';
import { CityGateError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Outbox } from './outbox.js';

/** What the runtime does with messages from the fleet; the config/command/update work fills these in. */
export interface DownlinkHandlers {
  command?: (req: CommandRequest) => Promise<unknown>;
  configDesired?: (desired: ConfigDesired) => void;
  updateControl?: (ctl: UpdateControl) => void;
  /** Flow sets (edge/src/node-red/flow-sync.ts): verified and deployed there, answered on `flows/reported`. */
  flowsDesired?: (desired: FlowsDesired) => void;
}

/**
 * Receives fleet → gateway messages: validates them (a bad one is logged and dropped), answers each
 * command once on `cmd/res` through the outbox (a re-delivered `tx` is not run twice).
 */
export class Downlink {
  rejected = 0;
  private readonly seenTx = new Set<string>();
  private answers: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly gatewayId: string,
    private readonly outbox: Outbox,
    private readonly now: () => number,
    private readonly log: Logger,
    readonly handlers: DownlinkHandlers = {},
  ) {}

  handle(topic: string, payload: Buffer, afterPut: () => void): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.gatewayId !== this.gatewayId) return;
    const reject = (error: string) => {
      this.rejected++;
      this.log.warn(`rejected ${parsed.channel} from the fleet: ${error}`);
    };
    switch (parsed.channel) {
      case 'cmd/req': {
        const m = decode('cmd/req', this.gatewayId, payload);
        if (!m.ok) return reject(m.error);
        // Commands run as they arrive; their answers are put in arrival order (a handler that
        // throws at once must not overtake an earlier one still awaiting its result).
        const answer = this.command(m.value);
        const put = this.answers
          .then(() => answer)
          .then((body) => body && this.outbox.put('cmd/res', [{ body, ts: this.now() }]));
        this.answers = put.catch(() => undefined);
        put.then(afterPut, (err: unknown) =>
          this.log.error(`command ${m.value.tx}: answer not stored: ${errorMessage(err)}`),
        );
        return;
      }
      case 'config/desired': {
        if (payload.length === 0) return;
        const m = decode('config/desired', this.gatewayId, payload);
        if (!m.ok) return reject(m.error);
        if (this.handlers.configDesired) this.handlers.configDesired(m.value);
        else this.log.info(`desired config v${m.value.version} received; no config handler in this runtime`);
        return;
      }
      case 'update/control': {
        const m = decode('update/control', this.gatewayId, payload);
        if (!m.ok) return reject(m.error);
        if (this.handlers.updateControl) this.handlers.updateControl(m.value);
        else this.log.info(`update ${m.value.action} (${m.value.tx}) received; no updater in this runtime`);
        return;
      }
      case 'flows/desired': {
        if (payload.length === 0) return;
        const m = decode('flows/desired', this.gatewayId, payload);
        if (!m.ok) return reject(m.error);
        if (this.handlers.flowsDesired) this.handlers.flowsDesired(m.value);
        else this.log.info(`flow set ${m.value.set.name} v${m.value.set.version} received; no Node-RED here`);
        return;
      }
      default:
        return;
    }
  }

  /** Run a command once; the answer to put, or undefined for a re-delivered `tx`. */
  private async command(req: CommandRequest): Promise<Record<string, unknown> | undefined> {
    if (this.seenTx.has(req.tx)) return undefined;
    this.seenTx.add(req.tx);
    if (this.seenTx.size > 1000) this.seenTx.delete(this.seenTx.values().next().value!);
    let body: Record<string, unknown>;
    if (req.expiresAt !== undefined && this.now() > req.expiresAt) {
      body = {
        tx: req.tx,
        status: 'error',
        error: { code: 'expired', message: 'command arrived after expiresAt' },
      };
    } else if (!this.handlers.command) {
      body = {
        tx: req.tx,
        status: 'error',
        error: { code: 'unsupported', message: `no command handler for '${req.name}'` },
      };
    } else {
      try {
        const result = await this.handlers.command(req);
        body = { tx: req.tx, status: 'ok', ...(result === undefined ? {} : { result }) };
      } catch (err) {
        const code = err instanceof CityGateError ? err.code : 'failed';
        body = { tx: req.tx, status: 'error', error: { code, message: errorMessage(err) } };
      }
    }
    return body;
  }
}
