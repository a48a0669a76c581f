import { Aedes, type Client } from 'aedes';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { identityProblem, mayPublish, maySubscribe, mayWill } from './broker-acl.js';
import { isValidId, topics, TOPIC_ROOT } from '../../common/contract/index.js';
import type { Logger } from '../../common/log.js';

/**
 * How much a gateway's connection reads ahead while its previous messages are being stored. aedes
 * reads a connection's next data only once every packet of the last read was handled, and a publish
 * is handled when the fleet committed it (store before PUBACK). With the default 16 KiB a read holds
 * one or two telemetry messages, so each commit (an fsync) carried about that much; reading ahead up
 * to a gateway's whole in-flight window lets one commit carry all of it. Memory: at most this much per
 * connection, and only while its sender has that much unacknowledged.
 */
const READ_AHEAD = 1024 * 1024;
export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  /** `mqtts://host:port` when a TLS listener runs. */
  readonly tlsUrl?: string;
  /** Close a connected client's connection now (a revoked gateway). */
  disconnect(clientId: string): boolean;
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
  /** Per-gateway credentials: username must equal the client id. Absent: any valid id may connect. */
  gatewayAuth?: (gatewayId: string, secret: string) => Promise<boolean>;
  /** A TLS listener (server certificate from the fleet's CA). */
  tls?: { port: number; cert: string; key: string };
  /**
   * Store-before-PUBACK: called for each gateway publish before aedes acknowledges it. A returned
   * promise holds the PUBACK until it settles; a rejection closes the gateway's connection unacked,
   * so the gateway sends the rows again. Undefined: nothing to store, acknowledge at once.
   */
  sink?: (topic: string, payload: Buffer) => Promise<void> | undefined;
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
      const will = !claimsFleet && packet.will ? mayWill(id, packet.will) : undefined;
      if (will && !will.ok) {
        log.warn(`refused connection from ${id}: ${will.reason}`, {
          topic: packet.will!.topic.slice(0, 200),
        });
        return done(new Error(will.reason), false);
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
        return done(null, true);
      }
      if (!opts.gatewayAuth) return done(null, true);
      const refuse = (why: string) => {
        log.warn(`refused gateway connection ${client.id}: ${why}`);
        done(Object.assign(new Error(why), { returnCode: 4 as const }), false);
      };
      const problem = identityProblem(client.id, username);
      if (problem || username === undefined || password === undefined)
        return refuse(problem ?? 'no username/password');
      opts.gatewayAuth(client.id, password.toString()).then(
        (ok) => (ok ? done(null, true) : refuse('bad credentials')),
        (err: unknown) => refuse(`credential check failed: ${String(err)}`),
      );
    },
    authorizePublish(client, packet, done) {
      if (client === null || isFleet(client, fleet)) return done(null);
      const d = mayPublish(client.id, packet.topic, packet.retain);
      if (!d.ok) {
        log.warn(`denied publish by ${client.id}: ${d.reason}`, { topic: packet.topic.slice(0, 200) });
        return done(new Error(d.reason));
      }
      const stored =
        packet.payload.length > 0 ? opts.sink?.(packet.topic, packet.payload as Buffer) : undefined;
      if (!stored) return done(null);
      stored.then(
        () => done(null),
        (err: unknown) => {
          log.error(`not acknowledging ${client.id}: store failed: ${String(err)}`);
          done(new Error('store failed'));
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      if (isFleet(client, fleet) || (client && maySubscribe(client.id, sub.topic).ok)) return done(null, sub);
      log.warn(`denied subscribe by ${client.id}`, { topic: sub.topic.slice(0, 200) });
      // A null subscription is a SUBACK failure (0x80) for this filter; the connection stays up.
      done(null, null);
    },
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer({ highWaterMark: READ_AHEAD }, (socket) => {
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
  let tlsServer: TlsServer | undefined;
  let tlsUrl: string | undefined;
  if (opts.tls) {
    const srv = createTlsServer(
      { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2', highWaterMark: READ_AHEAD },
      (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        broker.handle(socket);
      },
    );
    tlsServer = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(opts.tls!.port, opts.host, () => resolve());
    });
    const a = srv.address();
    tlsUrl = `mqtts://${opts.host}:${typeof a === 'object' && a ? a.port : opts.tls.port}`;
    log.info(`embedded MQTT broker (TLS) on ${tlsUrl}`);
  }
  return {
    port,
    url: `mqtt://${opts.host}:${port}`,
    tlsUrl,
    disconnect(clientId) {
      const c = (broker as unknown as { clients: Record<string, Client | undefined> }).clients[clientId];
      if (!c) return false;
      c.close();
      return true;
    },
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (tlsServer) await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    },
  };
}
