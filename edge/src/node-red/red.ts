/**
 * The few pieces of Node-RED's embedding API we use, typed here (node-red ships no types). Node-RED,
 * express 4 and bcryptjs are resolved from node-red's own location, so they are the versions it
 * was tested with (express 5 breaks http-in nodes; see shared/FIELD-NOTES.md).
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';

export type FlowNode = { id: string; type: string; z?: string; [k: string]: unknown };

export interface RedRuntimeApi {
  flows: {
    getFlows(opts: { user?: unknown }): Promise<{ rev: string; flows: FlowNode[] }>;
    setFlows(opts: {
      flows: { flows: FlowNode[]; rev?: string };
      deploymentType?: 'full' | 'nodes' | 'flows' | 'reload';
      user?: unknown;
    }): Promise<{ rev: string }>;
  };
}

export interface RedModule {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly httpAdmin: RequestHandler;
  readonly httpNode: RequestHandler;
  readonly runtime: RedRuntimeApi;
  readonly nodes: { getType(type: string): unknown; getNode(id: string): unknown };
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

export interface ExpressApp extends RequestHandler {
  use(path: string, handler: RequestHandler): void;
  disable(setting: string): void;
}

const redPath = createRequire(import.meta.url).resolve('node-red');
const fromRed = createRequire(redPath);

export function loadRed(): RedModule {
  return fromRed(redPath) as RedModule;
}

export function loadExpress(): () => ExpressApp {
  return fromRed('express') as () => ExpressApp;
}

/** bcrypt hash for `adminAuth` (Node-RED checks passwords with bcryptjs). */
export function hashPassword(password: string, rounds = 10): string {
  const bcrypt = fromRed('bcryptjs') as { hashSync(p: string, r: number): string };
  return bcrypt.hashSync(password, rounds);
}

/** Core node types every Node-RED 4 runtime has, for flow-set checks without a runtime at hand. */
export const NODE_RED_PATH = redPath;
