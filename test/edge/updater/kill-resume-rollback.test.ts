import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeBundle } from './fake-release.js';
import { killHarness, type KillHarness } from './kill-harness.js';

// The updater runs as its own process and is SIGKILLed at steps of a rollback and over and over at one step; a fresh updater resumes.
let h: KillHarness;
beforeAll(async () => {
  h = await killHarness('citygate-kill-rollback-');
});
afterAll(async () => {
  await h?.close();
});

describe('the updater killed during a rollback, or again and again', () => {
  it('a crashing release killed during its health check and its rollback ends on the working version', async () => {
    const kills = ['health:start', 'rollback:start', 'rollback:end'];
    const s = await h.killChain('u-3', await fakeBundle(h.tmp, h.key, '1.2.0', 'crash'), kills);
    expect(s.last).toMatchObject({ id: 'u-3', outcome: 'rolled-back', version: '1.2.0' });
    expect(s.committed).toBe('1.0.0');
    expect(await readlink(join(h.root, 'current'))).toBe(join('releases', '1.0.0'));
    expect(await h.running()).toBe('1.0.0');
  });

  it('a step interrupted again and again gives up before touching the running system', async () => {
    const s = await h.killChain('u-4', await fakeBundle(h.tmp, h.key, '1.3.0', 'good'), [
      'unpack:start',
      'unpack:start',
      'unpack:start',
    ]);
    expect(s.last).toMatchObject({ id: 'u-4', outcome: 'failed', reason: 'unpack: interrupted 3 times' });
    expect(s.committed).toBe('1.0.0');
    expect(await h.running()).toBe('1.0.0');
  });
});
