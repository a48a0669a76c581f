import { afterEach, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createServer, type Server } from 'node:net';
import { realClock } from '../../common/clock.js';
import { PROTOCOL_VERSION, topics } from '../../common/contract/index.js';
import { memoryLogger } from '../../common/log.js';
import { IngestHandler, startIngest, type Ingest } from '../../fleet/src/ingest.js';
import type { ApplyResult, FleetStore, UplinkMessage } from '../../fleet/src/store.js';
import { waitFor } from '../helpers.js';

const telemetry = (seq: number) =>
  JSON.stringify({
    v: PROTOCOL_VERSION,
    gateway: 'gw-k',
    epoch: '0123456789abcdef',
    session: 1,
    seq,
    sentAt: 1,
    readings: [{ id: seq, device: 'd', point: 'p', value: seq, ts: 1 }],
  });

/** A store whose commits take `ms` and can be told to fail; it records what each commit held and when. */
function slowStore(ms: number, failFirst: boolean) {
  const commits: { seqs: number[]; at: number }[] = [];
  let failed = !failFirst;
  const store = {
    recordState: () => Promise.resolve(),
    async apply(messages: readonly UplinkMessage[]): Promise<ApplyResult[]> {
      await new Promise((r) => setTimeout(r, ms));
      if (!failed) {
        failed = true;
        throw new Error('disk on fire');
      }
      commits.push({ seqs: messages.map((m) => m.value.seq), at: Date.now() });
      return messages.map(() => ({ inserted: 1, duplicates: 0, duplicateMessage: false }));
    },
  };
  return { store: store as unknown as FleetStore, commits };
}

describe('ingest with pipelined acknowledgements', () => {
  let server: Server | undefined;
  let broker: Aedes | undefined;
  let ingest: Ingest | undefined;
  let gw: mqtt.MqttClient | undefined;
  afterEach(async () => {
    await gw?.endAsync();
    await ingest?.close();
    await new Promise<void>((r) => (broker ? broker.close(() => r()) : r()));
    server?.close();
  });

  async function setup(failFirst: boolean) {
    broker = await Aedes.createBroker();
    const b = broker;
    server = createServer(b.handle);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    const acks: { seq: number; at: number }[] = [];
    b.on('ack', (packet, client) => {
      if (client?.id === 'ingest-test' && packet && 'payload' in packet)
        acks.push({ seq: (JSON.parse(String(packet.payload)) as { seq: number }).seq, at: Date.now() });
    });
    const s = slowStore(40, failFirst);
    const log = memoryLogger('debug');
    ingest = await startIngest(
      { url, clientId: 'ingest-test' },
      new IngestHandler(s.store, realClock, log.child('ingest')),
      log,
    );
    gw = await mqtt.connectAsync(url, { clientId: 'gw-k', reconnectPeriod: 0 });
    return { ...s, acks, log };
  }

  it('stores messages that arrive during a commit in one group, and acks each only after its commit', async () => {
    const { commits, acks } = await setup(false);
    for (let seq = 1; seq <= 12; seq++)
      await gw!.publishAsync(topics.telemetry('gw-k'), telemetry(seq), { qos: 1 });
    await waitFor('all acknowledged', () => acks.length === 12);
    expect(commits.flatMap((c) => c.seqs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // One message at a time would take 12 commits; pipelined, later messages share commits.
    expect(commits.length).toBeLessThan(12);
    for (const a of acks) {
      const commit = commits.find((c) => c.seqs.includes(a.seq))!;
      expect(a.at).toBeGreaterThanOrEqual(commit.at);
    }
  });

  it('acknowledges nothing a failed commit held; the broker redelivers it and it is stored', async () => {
    const { commits, acks, log } = await setup(true);
    await gw!.publishAsync(topics.telemetry('gw-k'), telemetry(1), { qos: 1 });
    await waitFor('stored after redelivery', () => commits.some((c) => c.seqs.includes(1)), 10_000);
    await waitFor('acknowledged', () => acks.some((a) => a.seq === 1));
    const firstAck = acks.find((a) => a.seq === 1)!;
    expect(firstAck.at).toBeGreaterThanOrEqual(commits.find((c) => c.seqs.includes(1))!.at);
    expect(log.lines.join('\n')).toMatch(/store failed/);
  }, 15_000);
});
