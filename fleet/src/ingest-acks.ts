import type { MqttClient } from 'mqtt';

type IPublishPacket = Parameters<MqttClient['handleMessage']>[0];

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void) => void;

/**
 * Pipelined QoS 1 acknowledgements for a subscriber that must store a message before acking it.
 *
 * mqtt.js reads the next incoming packet only after the previous one's PUBACK went out, so a store
 * that acks after its commit sees one message at a time: one transaction (one fsync) per message and
 * no group commit. Here mqtt.js is told the message is handled at once, but its PUBACK is held back
 * (by packet id) until `work` settles: up to `maxHeld` messages are stored concurrently (the
 * broker's own in-flight limit, 20 by default in Mosquitto, usually binds first), and the
 * group-commit queue batches them. A PUBACK still leaves only after the commit; a failed store
 * closes the connection unacknowledged and the broker redelivers (the store is idempotent). Acks
 * held for a connection that has since closed are dropped (the broker redelivers those too).
 *
 * This wraps mqtt.js's internal `_sendPacket` (mqtt 5.x); without it, acks are not pipelined.
 */
export function pipelineAcks(
  client: MqttClient,
  handle: (packet: IPublishPacket) => Promise<void> | undefined,
  onStoreFailed: (packet: IPublishPacket, err: unknown) => void,
  maxHeld = 256,
): void {
  const internal = client as unknown as { _sendPacket?: SendPacket };
  const original = internal._sendPacket?.bind(client);
  const held = new Map<number, Promise<void>>();
  let connection = 0;
  client.on('connect', () => connection++);
  if (original)
    internal._sendPacket = (packet, cb) => {
      const id = packet.messageId;
      const work = packet.cmd === 'puback' && id !== undefined ? held.get(id) : undefined;
      if (!work) return original(packet, cb);
      held.delete(id!);
      const at = connection;
      cb?.(); // mqtt.js goes on reading; this PUBACK follows the commit
      work.then(
        () => {
          if (at === connection && client.connected) original(packet);
        },
        () => undefined, // reported by the handler below; the connection is closed there
      );
    };
  let outstanding = 0; // stores started with their PUBACK held back, not yet settled
  client.handleMessage = (packet, done) => {
    const work = handle(packet);
    if (!work) return done();
    const fail = (err: unknown) => onStoreFailed(packet, err);
    const id = packet.messageId;
    if (original && packet.qos === 1 && id !== undefined && !held.has(id) && outstanding < maxHeld) {
      outstanding++;
      held.set(id, work);
      work.then(
        () => outstanding--,
        (err: unknown) => {
          outstanding--;
          fail(err);
        },
      );
      return done();
    }
    // Beyond `maxHeld`: mqtt.js reads on only after this one is stored (backpressure).
    work.then(() => done(), fail);
  };
}
