import { execFileSync } from 'node:child_process';

/** Whether the OS clock is NTP-synchronised; undefined where timedatectl cannot tell. */
export function timeSynced(): boolean | undefined {
  try {
    const out = execFileSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    });
    return out.trim() === 'yes';
  } catch {
    return undefined;
  }
}
