import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../common/package-root.js';
import type { FlowNode } from './red.js';

/** The default flows shipped in flows/*.json (street lighting, pump station, waste bins), as one flow list. */
export function defaultFlows(dir = join(packageRoot(), 'flows')): FlowNode[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as FlowNode[]);
}
