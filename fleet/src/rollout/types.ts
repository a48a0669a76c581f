/** Fleet rollouts: types shared by the pure machine (machine.ts), its shell (runner.ts) and the HTTP API. */

export interface GatewayInfo {
  id: string;
  group?: string;
  tags?: readonly string[];
  /** Pilot zone / district the gateway sits in. */
  zone?: string;
}

export type Target = { kind: 'all' } | { kind: 'group'; group: string } | { kind: 'tag'; tag: string };

/** A wave's size: a count of gateways or a percentage of the (non-pilot) targets. */
export type WaveSize = { count: number } | { percent: number };

/** Local time of day when updates may start (e.g. not at dusk when street lights switch). */
export interface UpdateWindow {
  /** 'HH:MM', inclusive. */
  from: string;
  /** 'HH:MM', exclusive; earlier than `from` means the window spans midnight. */
  to: string;
  /** Offset of the city's local time from UTC, in minutes (Hà Nội: 420). */
  utcOffsetMinutes: number;
}

export interface RolloutSpec {
  /** Release version to install (must be in the release store). */
  version: string;
  target: Target;
  /** Waves after the pilot: the first is the canary; gateways left over form one last wave. */
  waves: WaveSize[];
  /** Percentage of a wave that must commit for the next wave to start. */
  successThresholdPercent: number;
  /** Failures (rolled back, failed, timed out) across the whole rollout that halt it. */
  maxFailures: number;
  /** A gateway that has not finished within this long counts as failed (timed out). */
  gatewayTimeoutMs: number;
  /** At most this many gateways updating at once (default: the whole wave). */
  maxInFlight?: number;
  window?: UpdateWindow;
  /** Gateways in this zone go first, as their own wave; the rollout then pauses for a person to resume. */
  pilotZone?: string;
}

export type GatewayStatus = 'pending' | 'updating' | 'committed' | 'rolled-back' | 'failed' | 'timed-out';
export const TERMINAL: ReadonlySet<GatewayStatus> = new Set([
  'committed',
  'rolled-back',
  'failed',
  'timed-out',
]);
export const FAILED: ReadonlySet<GatewayStatus> = new Set(['rolled-back', 'failed', 'timed-out']);

export interface GatewayProgress {
  wave: number;
  status: GatewayStatus;
  /** Transaction id of the update sent to this gateway. */
  txId?: string;
  step?: string;
  reason?: string;
  sentAt?: number;
  finishedAt?: number;
}

export interface Wave {
  name: string;
  gateways: string[];
}

export type RolloutStatus = 'running' | 'paused' | 'halted' | 'aborted' | 'completed';

export interface RolloutState {
  id: string;
  spec: RolloutSpec;
  status: RolloutStatus;
  /** Why paused / halted / aborted. */
  reason?: string;
  waves: Wave[];
  /** Index of the wave being updated. */
  current: number;
  gateways: Record<string, GatewayProgress>;
  createdAt: number;
  updatedAt: number;
}

/** What the gateway says about the update it was sent (mapped from its update progress messages). */
export interface GatewayReport {
  txId: string;
  status: 'running' | 'committed' | 'rolled-back' | 'failed' | 'busy';
  step?: string;
  reason?: string;
}

export type RolloutEvent =
  | { type: 'tick' }
  | { type: 'report'; gateway: string; report: GatewayReport }
  | { type: 'pause'; reason?: string }
  | { type: 'resume' }
  | { type: 'abort'; reason?: string };

export type RolloutEffect =
  | { type: 'send-update'; gateway: string; txId: string; version: string }
  /** Call `tick` again at this time (timeouts, the window opening). */
  | { type: 'wake-at'; at: number }
  | { type: 'log'; message: string };

export interface WaveSummary {
  name: string;
  total: number;
  pending: number;
  updating: number;
  committed: number;
  failed: number;
  state: 'waiting' | 'active' | 'passed' | 'failed';
}
