import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { GATEWAY_EXCLUDED_CORE_NODES } from '../../../common/flow-set.js';
import { packageRoot } from '../../../common/package-root.js';

/**
 * Node types a gateway of this release can run: Node-RED's core nodes (read from the installed
 * @node-red/nodes, the same package the gateways run, less GATEWAY_EXCLUDED_CORE_NODES) and the
 * CityGate palette (nodes/package.json).
 */
export function gatewayNodeTypes(): Set<string> {
  const types = new Set<string>();
  const require = createRequire(import.meta.url);
  const coreDir = join(dirname(require.resolve('@node-red/nodes/package.json')), 'core');
  for (const cat of readdirSync(coreDir, { withFileTypes: true })) {
    if (!cat.isDirectory()) continue;
    for (const f of readdirSync(join(coreDir, cat.name)))
      if (f.endsWith('.js') && !(f in GATEWAY_EXCLUDED_CORE_NODES))
        for (const m of readFileSync(join(coreDir, cat.name, f), 'utf8').matchAll(
          /registerType\(\s*["']([\w -]+)["']/g,
        ))
          types.add(m[1]!);
  }
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'nodes', 'package.json'), 'utf8')) as {
    'node-red': { nodes: Record<string, string> };
  };
  for (const t of Object.keys(pkg['node-red'].nodes)) types.add(t);
  types.delete('unknown'); // Node-RED's placeholder for a missing type, never deployable
  return types;
}
