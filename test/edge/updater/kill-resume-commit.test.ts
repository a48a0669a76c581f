import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeBundle } from './fake-release.js';
import { killHarness, type KillHarness } from './kill-harness.js';

// The updater runs as its own process and is SIGKILLed at the start of every step; a fresh updater resumes.
let h: KillHarness;
beforeAll(async () => {
  h = await killHarness('citygate-kill-commit-');
});
afterAll(async () => {
  await h?.close();
});

describe('the updater killed at each step of a good update', () => {
  it('a good release killed at the start of every step (and after the switch and the restart) ends committed', async () => {
    const kills = [
      'check:start',
      'download:start',
      'verify:start',
      'unpack:start',
      'switch:start',
      'switch:end',
      'reload:start',
      'reload:end',
      'health:start',
      'commit:start',
    ];
    const s = await h.killChain('u-2', await fakeBundle(h.tmp, h.key, '1.1.0', 'good'), kills);
    expect(s.last).toMatchObject({ id: 'u-2', outcome: 'committed', version: '1.1.0' });
    expect(s.job).toBeUndefined();
    expect(await readlink(join(h.root, 'current'))).toBe(join('releases', '1.1.0'));
    expect(await h.running()).toBe('1.1.0');
  });
});
