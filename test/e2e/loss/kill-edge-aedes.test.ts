import { describe, it } from 'vitest';
import { killEdgeScenario } from './kill-edge.js';

describe('kill -9 of the edge during bursts (embedded aedes)', () => {
  it('26 kills in 2 lanes: every committed reading and alarm reaches the fleet exactly once', async () => {
    await killEdgeScenario('aedes', 13);
  }, 60_000);
});
