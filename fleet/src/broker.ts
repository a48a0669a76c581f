import { Aedes, type Client } from 'aedes';
import { createServer, type Server, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { isValidId, topics, TOPIC_ROOT } from '../../common/contract/index.js';
import type { Logger } from '../../common/log.js';

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** The fleet's own MQTT identity on the embedded broker. */
export interface FleetIdentity {
  clientIdPrefix: string;
  username: string;
  password: string;
}

const isFleet = (c: Client | null, fleet: FleetIdentity): boolean =>
  c !== null &&
  (c as Client & { citygateRole?: string }).citygateRole === 'fleet' &&
  c.id.startsWith(fleet.clientIdPrefix);

/** Does `topic` (or filter) lie inside gateway `id`'s own namespace, with no wildcard escaping it? */
export function inNamespace(id: string, topic: string): boolean {
  const ns = topics.namespace(id);
  return topic.startsWith(ns) && topic.length > ns.length;
}

/**
 * Embedded aedes broker with the namespace ACL: a gateway connects with its id as client id and may
 * publish and subscribe only under `citygate/v1/<id>/`; its Will must be there too (aedes #211).
 * Only the fleet's own client (authenticated with a secret made at start-up) sees everything.
 * Per-gateway credentials and TLS come with the fleet-service work.
 */
export async function startEmbeddedBroker(opts: {
  port: number;
  host: string;
  fleet: FleetIdentity;
  log: Logger;
}): Promise<EmbeddedBroker> {
  const { fleet, log } = opts;
  const broker = await Aedes.createBroker({
    preConnect(client, packet, done) {
      const id = packet.clientId ?? '';
      const claimsFleet = id.startsWith(fleet.clientIdPrefix);
      if (!claimsFleet && !isValidId(id)) {
        log.warn('refused connection: client id is not a valid gateway id', { clientId: id.slice(0, 80) });
        return done(new Error('client id is not a valid gateway id'), false);
      }
      if (!claimsFleet && packet.will && !inNamespace(id, packet.will.topic)) {
        log.warn(`refused connection from ${id}: Will topic outside its namespace`);
        return done(new Error('Will topic outside namespace'), false);
      }
      done(null, true);
    },
    authenticate(client, username, password, done) {
      if (client.id.startsWith(fleet.clientIdPrefix)) {
        const ok =
          username === fleet.username &&
          password !== undefined &&
          password.length === Buffer.byteLength(fleet.password) &&
          timingSafeEqual(password, Buffer.from(fleet.password));
        if (!ok) {
          log.warn('refused fleet connection: bad credentials');
          const err = Object.assign(new Error('bad credentials'), { returnCode: 4 as const });
          return done(err, false);
        }
        (client as Client & { citygateRole?: string }).citygateRole = 'fleet';
      }
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (client === null || isFleet(client, fleet)) return done(null);
      if (!inNamespace(client.id, packet.topic)) {
        log.warn(`denied publish by ${client.id} outside its namespace`, {
          topic: packet.topic.slice(0, 200),
        });
        return done(new Error('topic outside namespace'));
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      if (isFleet(client, fleet) || inNamespace(client.id, sub.topic)) return done(null, sub);
      log.warn(`denied subscribe by ${client.id}`, { topic: sub.topic.slice(0, 200) });
      done(new Error('subscription outside namespace'));
    },
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  log.info(`embedded MQTT broker on mqtt://${opts.host}:${port} (${TOPIC_ROOT}/…)`);
  return {
    port,
    url: `mqtt://${opts.host}:${port}`,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
