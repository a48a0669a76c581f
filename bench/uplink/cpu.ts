/** CPU seconds used by this process (all its threads, SQLite's included) and by another process. */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process from /proc/<pid>/stat, in seconds; 0 without a pid. */
export function processCpu(pid: number | undefined): number {
  if (!pid) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 is state; utime and stime are fields 14 and 15 of the full line.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
