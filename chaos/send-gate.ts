import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP gate in front of a funder: while `holding`, it accepts connections and keeps them without
 * reading or forwarding, so a request a worker sends never reaches the funder (a worker killed at
 * that moment had recorded its intent and not yet sent anything the funder could act on); once
 * `forward()` is called, new connections are piped to the funder and held ones are dropped unread.
 */
export class SendGate {
  readonly #target: { host: string; port: number };
  readonly #held = new Set<Socket>();
  #holding = true;
  #server: Server | undefined;

  constructor(funderOrigin: string) {
    const url = new URL(funderOrigin);
    this.#target = { host: url.hostname, port: Number(url.port) };
  }

  /** Connections held so far (each a request the funder never saw). */
  get held(): number {
    return this.#held.size;
  }

  async start(): Promise<string> {
    this.#server = createServer((socket) => {
      if (this.#holding) {
        socket.pause();
        this.#held.add(socket);
        socket.once("close", () => this.#held.delete(socket));
        return;
      }
      const upstream = connect(this.#target);
      socket.pipe(upstream).pipe(socket);
      const close = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.once("error", close).once("close", close);
      upstream.once("error", close).once("close", close);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** From now on connections reach the funder; the held ones are reset, their bytes unread. */
  forward(): void {
    this.#holding = false;
    for (const socket of this.#held) socket.resetAndDestroy();
    this.#held.clear();
  }

  async close(): Promise<void> {
    for (const socket of this.#held) socket.destroy();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
