/**
 * npm run bench:node-red
 * Resident memory of the edge runtime with Node-RED embedded and the default flows running against
 * a simulated cabinet (10 lights, a pump station, 3 bins polled every second), against stock
 * Node-RED idle (`node node_modules/node-red/red.js` with an empty temp userDir), on this machine
 * in this run. Both are measured from compiled JavaScript in child processes (tsx alone adds ~50 MB),
 * after a settle time, as the max of several /proc/<pid>/status VmRSS samples; every process runs
 * BENCH_REPEAT times (default 3, interleaved) and the table shows medians. Stock Node-RED runs with
 * its defaults (no settings file, no node flags); ours runs as `citygate edge` does, with the gateway
 * palette (edge/src/node-red/start.ts: core node sets a gateway does not load, common/flow-set.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../common/package-root.js';
import { loadProfiles } from '../hardware/src/profile.js';
import { TcpSimulator } from '../hardware/src/sim/tcp-server.js';
import { printTable } from './table.js';

const SETTLE_MS = 6000;
/** Runs of each process (interleaved); rows show medians. */
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const root = packageRoot();
const out = join(root, 'node_modules', '.cache', 'citygate-bench-node-red');

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function sample(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  let max = 0;
  for (let i = 0; i < 5; i++) {
    max = Math.max(max, rssMb(pid));
    await new Promise((r) => setTimeout(r, 500));
  }
  return max;
}

function waitFor(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(
      () => reject(new Error(`${what}: not ready after 30 s:\n${seen.slice(-2000)}`)),
      30_000,
    );
    const on = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}):\n${seen.slice(-2000)}`)));
  });
}

const stop = (c: ChildProcess): Promise<void> =>
  new Promise((r) => {
    if (c.exitCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  });

const childCode = (simPort: number, dataDir: string, withNodeRed = true, flows = true): string => {
  const u = (p: string) => JSON.stringify(pathToFileURL(join(out, p)).href);
  const devices = [
    ...Array.from({ length: 10 }, (_, i) => ({
      id: `light-${i + 1}`,
      profile: 'citygate/slc-100',
      line: 'eth0',
      unitId: i + 1,
      pollMs: 1000,
    })),
    { id: 'pump-station', profile: 'citygate/psc-200', line: 'eth0', unitId: 10 + 1, pollMs: 1000 },
    ...Array.from({ length: 3 }, (_, i) => ({
      id: `bin-${i + 1}`,
      profile: 'citygate/wbs-10',
      line: 'eth0',
      unitId: 21 + i,
      pollMs: 1000,
    })),
  ];
  const doc = {
    version: 1,
    id: 'gw-bench',
    fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
    location: { lat: 21.0285, lon: 105.8542 },
    lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port: simPort, timeoutMs: 500 }],
    devices,
  };
  return `
    const { startEdge } = await import(${u('edge/src/main.js')});
    const { parseGatewayConfig } = await import(${u('edge/src/config.js')});
    const { loadProfiles } = await import(${u('hardware/src/profile.js')});
    const { createLogger } = await import(${u('common/log.js')});
    const { attachNodeRed } = await import(${u('edge/src/node-red/attach.js')});
    const { hashPassword } = await import(${u('edge/src/node-red/red.js')});
    const profiles = loadProfiles();
    const config = parseGatewayConfig(${JSON.stringify(doc)}, profiles);
    const log = createLogger({ level: 'warn' });
    const edge = await startEdge({ config, profiles, dataDir: ${JSON.stringify(dataDir)}, log, localApi: false });
    const sink = () => {};
    const red = !${withNodeRed} ? { port: 0, stop: async () => {} } : await attachNodeRed(edge, {
      port: 0, adminAuth: { username: 'admin', passwordHash: hashPassword('bench-pass') },
      location: { lat: 21.0285, lon: 105.8542, timeZone: 'Asia/Ho_Chi_Minh' },
      sinks: { raiseAlarm: sink, clearAlarm: sink, publishTelemetry: sink }, log,${flows ? '' : ' initialFlows: [],'}
    });
    console.log('READY ' + red.port);
    process.on('SIGTERM', async () => { await red.stop(); await edge.stop(); process.exit(0); });
  `;
};

async function main(): Promise<void> {
  console.log('compiling to', out);
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error('tsc failed');

  const profiles = loadProfiles();
  const units = [
    ...Array.from({ length: 10 }, (_, i) => ({ unitId: i + 1, profile: profiles.get('citygate/slc-100')! })),
    { unitId: 11, profile: profiles.get('citygate/psc-200')! },
    ...Array.from({ length: 3 }, (_, i) => ({ unitId: 21 + i, profile: profiles.get('citygate/wbs-10')! })),
  ];
  const sim = new TcpSimulator(units);
  const simPort = await sim.listen(0);
  const dir = mkdtempSync(join(tmpdir(), 'citygate-bench-nr-'));
  const runs: Record<'ours' | 'noFlows' | 'edgeOnly' | 'stock', number[]> = {
    ours: [],
    noFlows: [],
    edgeOnly: [],
    stock: [],
  };
  const measureChild = async (args: string[], ready: RegExp, what: string, cwd: string): Promise<number> => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    await waitFor(child, ready, what);
    const rss = await sample(child.pid!);
    await stop(child);
    return rss;
  };
  let served = 0;
  try {
    // Each process is measured REPEAT times, interleaved, and each row takes the medians: one
    // sample's GC timing moves RSS by ±6 MB here.
    for (let rep = 0; rep < REPEAT; rep++) {
      const at = sim.units().reduce((n, d) => n + d.requests, 0);
      const edgeArgs = (name: string, nodeRed: boolean, flows: boolean) => [
        '--input-type=module',
        '-e',
        childCode(simPort, join(dir, `${name}-${rep}`), nodeRed, flows),
      ];
      runs.ours.push(await measureChild(edgeArgs('gw', true, true), /READY \d+/, 'edge + Node-RED', root));
      served += sim.units().reduce((n, d) => n + d.requests, 0) - at;
      runs.edgeOnly.push(
        await measureChild(edgeArgs('gw-bare', false, true), /READY \d+/, 'edge without Node-RED', root),
      );
      runs.noFlows.push(
        await measureChild(
          edgeArgs('gw-empty', true, false),
          /READY \d+/,
          'edge + Node-RED without flows',
          root,
        ),
      );
      runs.stock.push(
        await measureChild(
          [join(root, 'node_modules/node-red/red.js'), '--userDir', join(dir, `stock-${rep}`), '--port', '0'],
          /Started flows|Server now running/,
          'stock Node-RED',
          dir,
        ),
      );
    }
    const ours = median(runs.ours);
    const noFlows = median(runs.noFlows);
    const edgeOnly = median(runs.edgeOnly);
    const baseline = median(runs.stock);

    if (served === 0) throw new Error('the edge child never polled the simulator');
    printTable(
      `Node-RED on the gateway: resident memory (median of ${REPEAT} runs, each the max of 5 samples after 6 s)`,
      [
        {
          metric: 'RSS: edge + embedded Node-RED + default flows vs stock Node-RED idle',
          ours,
          baseline,
          unit: 'MB',
          better: 'lower',
          goal: '≥ 0.77× (ours ≤ 1.3× stock)',
        },
        {
          metric: 'RSS: edge + embedded Node-RED, no flows vs stock Node-RED idle',
          ours: noFlows,
          baseline,
          unit: 'MB',
          better: 'lower',
        },
        {
          metric: 'RSS: the same edge runtime without Node-RED vs stock Node-RED idle',
          ours: edgeOnly,
          baseline,
          unit: 'MB',
          better: 'lower',
        },
      ],
    );
    for (const [k, v] of Object.entries(runs))
      console.log(`${k.padEnd(8)} runs: ${v.map((x) => x.toFixed(0)).join(', ')} MB`);
    console.log(
      `Node-RED + default flows add ${(ours - edgeOnly).toFixed(0)} MB to the edge runtime; stock Node-RED idles at ${baseline.toFixed(0)} MB`,
    );
    console.log(
      `ratio ours/stock = ${(ours / baseline).toFixed(2)}× (goal ≤ 1.30×); the edge children served ${served} Modbus requests while measured`,
    );
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
