/**
 * Gateway-side checks of a `config/desired` message before anything is applied: payload shape,
 * the fleet's Ed25519 signature (key received at provisioning), anti-rollback (the version must be
 * higher than any this gateway has accepted; the highest survives restarts in a 0600 state file),
 * then the gateway-config schema and cross-references. The local `fleet` section (credentials from
 * provisioning) always wins over what the message carries. The result is what `config/reported`
 * says.
 */
import { existsSync, readFileSync } from 'node:fs';
import { decode, type ConfigDesired } from '../../common/contract/index.js';
import { verifyConfigSignature } from '../../common/config-signature.js';
import { errorMessage } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Profile } from '../../hardware/src/profile.js';
import { parseGatewayConfig, type GatewayConfig } from './config.js';

export type ConfigVerdict =
  | { status: 'applied'; version: number; unchanged?: true }
  | { status: 'rejected'; version: number; error: string; unchanged?: true };

export interface ConfigVerifierOptions {
  gatewayId: string;
  /** The fleet's config-signing public key (PEM), from provisioning. */
  publicKeyPem: string;
  /** Where the highest accepted version is persisted. */
  stateFile: string;
  profiles: ReadonlyMap<string, Profile>;
  /** This gateway's own connection settings; replace whatever `fleet` the message carries. */
  localFleet: GatewayConfig['fleet'];
  /** Apply atomically (write-then-rename and restart what changed); throw to reject. */
  apply: (config: GatewayConfig, version: number) => Promise<void>;
}

interface State {
  highestVersion: number;
  /** Signature and verdict of that version: a redelivery (retained message after a reconnect) gets the same answer. */
  signature?: string;
  verdict?: ConfigVerdict;
}

export class ConfigVerifier {
  private state: State;

  constructor(private readonly opts: ConfigVerifierOptions) {
    this.state = ConfigVerifier.readState(opts.stateFile);
  }

  private static readState(file: string): State {
    if (!existsSync(file)) return { highestVersion: 0 };
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<State>;
    if (typeof s.highestVersion !== 'number' || !Number.isInteger(s.highestVersion) || s.highestVersion < 0)
      throw new Error(`config state file ${file} is corrupt: refusing to guess the anti-rollback version`);
    return s as State;
  }

  get highestVersion(): number {
    return this.state.highestVersion;
  }

  /** Check and apply one received payload. Never throws; the verdict is what to report. */
  async handle(payload: Buffer | string): Promise<ConfigVerdict> {
    const decoded = decode('config/desired', this.opts.gatewayId, payload);
    if (!decoded.ok) return { status: 'rejected', version: versionOf(payload), error: decoded.error };
    const msg: ConfigDesired = decoded.value;
    const reject = (error: string): ConfigVerdict => ({ status: 'rejected', version: msg.version, error });
    if (msg.signature === undefined) return reject('unsigned: config/desired carries no signature');
    if (!verifyConfigSignature(msg, this.opts.publicKeyPem))
      return reject('bad signature: not signed by this fleet, or altered after signing');
    if (
      msg.version === this.state.highestVersion &&
      msg.signature === this.state.signature &&
      this.state.verdict
    )
      return { ...this.state.verdict, unchanged: true };
    if (msg.version <= this.state.highestVersion)
      return reject(
        `rollback refused: version ${msg.version} is not newer than ${this.state.highestVersion}, the highest accepted`,
      );
    // Signed and new: remember it before anything else, so an older message cannot come back.
    this.persist({ highestVersion: msg.version, signature: msg.signature });
    const verdict = await this.check(msg);
    this.persist({ highestVersion: msg.version, signature: msg.signature, verdict });
    return verdict;
  }

  private async check(msg: ConfigDesired): Promise<ConfigVerdict> {
    const reject = (error: string): ConfigVerdict => ({ status: 'rejected', version: msg.version, error });
    let cfg: GatewayConfig;
    try {
      const doc: Record<string, unknown> = { ...msg.config, fleet: this.opts.localFleet };
      if (doc.id !== undefined && doc.id !== this.opts.gatewayId)
        return reject(`config names gateway '${String(doc.id)}', this is '${this.opts.gatewayId}'`);
      cfg = parseGatewayConfig({ ...doc, id: this.opts.gatewayId }, this.opts.profiles, 'desired config');
    } catch (err) {
      return reject(errorMessage(err));
    }
    try {
      await this.opts.apply(cfg, msg.version);
    } catch (err) {
      return reject(`apply failed: ${errorMessage(err)}`);
    }
    return { status: 'applied', version: msg.version };
  }

  private persist(state: State): void {
    writeFileAtomic(this.opts.stateFile, JSON.stringify(state) + '\n', 0o600);
    this.state = state;
  }
}

function versionOf(payload: Buffer | string): number {
  try {
    const v = (JSON.parse(payload.toString()) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0;
  } catch {
    return 0;
  }
}
