import { describe, expect, it } from 'vitest';
import { listDirectory } from '../../fleet/src/directory.js';
import { targets } from '../../fleet/src/rollout/machine.js';
import type { RolloutSpec } from '../../fleet/src/rollout/types.js';

const spec = (target: RolloutSpec['target']): RolloutSpec => ({
  version: '1.2.3',
  target,
  waves: [{ percent: 100 }],
  successThresholdPercent: 100,
  maxFailures: 1,
  gatewayTimeoutMs: 60_000,
});

describe('gateway directory for rollouts and flow sets', () => {
  const dir = () =>
    listDirectory({
      gateways: async () => [{ id: 'gw-1' }, { id: 'gw-2' }, { id: 'gw-3' }],
      sites: async () => [
        { id: 'gw-1', zone: 'lake' },
        { id: 'gw-3', zone: 'old-quarter' },
        { id: 'gw-9', zone: 'lake' }, // a site whose gateway never connected
      ],
      groups: async () => [
        { id: 'pilot', members: ['gw-2', 'gw-3'] },
        { id: 'empty', members: [] },
      ],
    });

  it('gives each connected gateway its zone and config group', async () => {
    expect(await dir()).toEqual([
      { id: 'gw-1', zone: 'lake' },
      { id: 'gw-2', group: 'pilot' },
      { id: 'gw-3', zone: 'old-quarter', group: 'pilot' },
    ]);
  });

  it('lets a group rollout reach exactly the group members', async () => {
    const fleet = await dir();
    expect(targets(spec({ kind: 'group', group: 'pilot' }), fleet).map((g) => g.id)).toEqual([
      'gw-2',
      'gw-3',
    ]);
    expect(targets(spec({ kind: 'group', group: 'empty' }), fleet)).toEqual([]);
    expect(targets(spec({ kind: 'all' }), fleet)).toHaveLength(3);
  });
});
