import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { topics } from '../../../common/contract/index.js';
import { CityGateError } from '../../../common/errors.js';
import { memoryLogger } from '../../../common/log.js';
import { Outbox } from '../../../edge/src/outbox.js';
import { Downlink } from '../../../edge/src/uplink-downlink.js';
import { tempDir, waitFor } from '../../helpers.js';

describe('downlink commands', () => {
  const dirs: { cleanup: () => void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('puts answers in the order the commands arrived, even when a later one fails at once', async () => {
    const d = tempDir();
    dirs.push(d);
    const outbox = await Outbox.open(join(d.path, 'o.db'));
    const downlink = new Downlink('gw-d', outbox, () => 1000, memoryLogger('debug'), {
      command: (req) => {
        if (req.name === 'fail') throw new CityGateError('nope', 'it failed');
        return new Promise((resolve) => setTimeout(() => resolve({ slow: true }), 30));
      },
    });
    const req = (tx: string, name: string) =>
      Buffer.from(JSON.stringify({ v: 1, gateway: 'gw-d', tx, name, args: {}, ts: 1000 }));
    // Delivered in one burst, as mqtt.js does when they share a TCP read.
    downlink.handle(topics.commandRequest('gw-d'), req('tx-1', 'slow'), () => undefined);
    downlink.handle(topics.commandRequest('gw-d'), req('tx-1', 'slow'), () => undefined); // redelivered
    downlink.handle(topics.commandRequest('gw-d'), req('tx-2', 'fail'), () => undefined);
    await waitFor('both answers stored', async () => (await outbox.depth()) === 2);
    await outbox.beginSession();
    const answers = [];
    for (let b = await outbox.take(10); b; b = await outbox.take(10))
      answers.push(...b.rows.map((r) => r.body));
    expect(answers.map((a) => [a.tx, a.status])).toEqual([
      ['tx-1', 'ok'],
      ['tx-2', 'error'],
    ]);
    await outbox.close();
  });
});
