import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { GatewayConfig } from './config.js';

/** Parse and fully validate a document (schema, migration, cross-references); throws naming paths. */
export type ConfigParser = (doc: unknown, where: string) => GatewayConfig;

export const CURRENT_FILE = 'gateway.json';
export const LAST_GOOD_FILE = 'gateway.last-good.json';

/**
 * Write so a power cut leaves the old file or the new one, never a torn one: temp file in the same
 * directory, fsync, rename over, fsync the directory. Mode 0600: the config holds broker secrets.
 */

export interface LoadedConfig {
  config: GatewayConfig;
  source: 'current' | 'last-good';
  /** Why the current file was not used (when source is last-good). */
  problem?: string;
}

/**
 * The gateway's config on disk: the newest applied document and the last-known-good one (the
 * newest that a runtime has started with). A document is validated before anything is written, so
 * an invalid one never replaces a working one; the running config stays in force.
 */
export class ConfigStore {
  readonly currentPath: string;
  readonly lastGoodPath: string;
  private running: GatewayConfig | undefined;

  constructor(
    readonly dir: string,
    private readonly parse: ConfigParser,
    private readonly log?: Logger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.currentPath = join(dir, CURRENT_FILE);
    this.lastGoodPath = join(dir, LAST_GOOD_FILE);
  }

  /** The config in force (after load or apply). */
  get config(): GatewayConfig | undefined {
    return this.running;
  }

  /** At boot: the newest config, or the last-known-good when the newest is missing, unreadable or invalid. */
  load(): LoadedConfig {
    let problem: string;
    try {
      this.running = this.read(this.currentPath);
      return { config: this.running, source: 'current' };
    } catch (err) {
      problem = errorMessage(err);
    }
    if (!existsSync(this.lastGoodPath))
      throw new CityGateError(
        'config-unreadable',
        `no usable gateway config: ${problem}; no last-known-good at ${this.lastGoodPath}`,
      );
    let config: GatewayConfig;
    try {
      config = this.read(this.lastGoodPath);
    } catch (err) {
      throw new CityGateError(
        'config-unreadable',
        `no usable gateway config: ${problem}; last-known-good also failed: ${errorMessage(err)}`,
      );
    }
    this.log?.warn(`gateway config unusable, booting with the last-known-good: ${problem}`);
    if (existsSync(this.currentPath)) renameSync(this.currentPath, `${this.currentPath}.rejected`);
    this.running = config;
    return { config, source: 'last-good', problem };
  }

  /**
   * Validate and store a new document; returns the parsed config. Throws (ValidationError naming
   * paths) without touching disk or the config in force when the document is invalid.
   */
  apply(doc: unknown, where = 'new gateway config'): GatewayConfig {
    const config = this.parse(doc, where);
    writeFileAtomic(this.currentPath, JSON.stringify(config, null, 2) + '\n', 0o600);
    this.running = config;
    return config;
  }

  /** The config in force has run: keep it as the last-known-good. */
  markGood(): void {
    if (!this.running) throw new CityGateError('no-config', 'no config in force to mark good');
    writeFileAtomic(this.lastGoodPath, JSON.stringify(this.running, null, 2) + '\n', 0o600);
  }

  private read(path: string): GatewayConfig {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new CityGateError('config-unreadable', `cannot read ${path}: ${errorMessage(err)}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new CityGateError('invalid', `${path} is not valid JSON: ${errorMessage(err)}`);
    }
    return this.parse(doc, `gateway config ${path}`);
  }
}
