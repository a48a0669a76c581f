import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay standing for a gateway's uplink (cellular modem, fibre): the demo cuts it to show a
 * gateway going offline, buffering in its outbox, and forwarding its backlog when the link heals.
 */
export class Link {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  up = true;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async listen(): Promise<number> {
    const server = createServer((client) => {
      if (!this.up) return client.destroy();
      const upstream = connect(this.targetPort, this.targetHost);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Drop every connection and refuse new ones until `heal`. */
  cut(): void {
    this.up = false;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  heal(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
