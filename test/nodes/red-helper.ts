import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface HelperNode {
  id: string;
  on(event: 'input', fn: (msg: Record<string, unknown>) => void): void;
  on(event: 'call:error' | 'call:warn', fn: (call: { args: unknown[] }) => void): void;
  receive(msg: Record<string, unknown>): void;
  [k: string]: unknown;
}

export interface Helper {
  init(redPath: string): void;
  settings(s: Record<string, unknown>): void;
  load(nodes: unknown[], flow: unknown[], cb: () => void): void;
  unload(): Promise<void>;
  getNode(id: string): HelperNode;
  startServer(cb: () => void): void;
  stopServer(cb: () => void): void;
}

export const helper = require('node-red-node-test-helper') as Helper;
helper.init(require.resolve('node-red'));

const node = (name: string): unknown => require(`../../nodes/${name}.js`);
export const palette = [
  'citygate-gateway',
  'citygate-device-in',
  'citygate-device-out',
  'citygate-alarm',
  'citygate-telemetry',
  'citygate-schedule',
].map(node);

export const load = (flow: unknown[]): Promise<void> =>
  new Promise((resolve) => helper.load(palette, flow, () => resolve()));

/** The next message a helper node receives. */
export function nextMessage(n: HelperNode): Promise<Record<string, unknown>> {
  return new Promise((resolve) => n.on('input', resolve));
}

/** The next error a node reports (node.error or done(err)). */
export function nextError(n: HelperNode): Promise<string> {
  return new Promise((resolve) => n.on('call:error', (call) => resolve(String(call.args[0]))));
}

/** Resolves once `cond()` holds (checked on every turn of the event loop), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
