import * as net from "node:net";
import { type CapflowDatabase, openPostgresStore } from "../../src/index.ts";

/**
 * A loopback TCP proxy in front of PostgreSQL that can lose traffic on demand: the realistic way
 * to lose a connection in the middle of a commit (the statement reached the server, or did not,
 * and the reply never comes back), without hooks in the code under test.
 */
export class TcpProxy {
  /** `pass`: forward both ways; `dropResponses`: server -> client lost; `dropRequests`: client -> server lost. */
  mode: "pass" | "dropResponses" | "dropRequests" = "pass";
  readonly #server: net.Server;
  readonly #pairs = new Set<[net.Socket, net.Socket]>();

  constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.on("data", (data) => {
        if (this.mode !== "dropRequests") upstream.write(data);
      });
      upstream.on("data", (data) => {
        if (this.mode !== "dropResponses") client.write(data);
      });
      const end = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", end).on("error", end);
      upstream.on("close", end).on("error", end);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Resets every proxied connection, as a network failure would. */
  cutAll(): void {
    for (const [client, upstream] of this.#pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Opens a second store on `direct`'s schema whose connections go through a new `TcpProxy`, so a
 * test can break them while `direct` keeps a working connection to check what really committed.
 */
export async function openThroughProxy(
  direct: CapflowDatabase,
  databaseUrl: string,
  poolMax: number,
): Promise<{ proxy: TcpProxy; proxied: CapflowDatabase }> {
  const url = new URL(databaseUrl);
  const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(await proxy.listen());
  url.hostname = "127.0.0.1";
  const proxied = openPostgresStore({
    connectionString: url.href,
    schema: direct.schema,
    pool: { max: poolMax },
    // Broken connections are the point of the tests that use this.
    log: { warn: () => {} },
  });
  return { proxy, proxied };
}
