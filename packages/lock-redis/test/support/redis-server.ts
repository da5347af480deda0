import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

/**
 * A redis-server of the test's own, on a spare loopback port, that can be killed and started
 * again on the same port (for outage tests; never the shared Redis).
 */
export class DisposableRedisServer {
  #process: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<DisposableRedisServer> {
    const server = new DisposableRedisServer(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#process = child;
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 5_000;
    while (!output.includes("Ready to accept connections")) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`redis-server did not start on port ${this.port}:\n${output}`);
      }
      await delay(20);
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, like a partition. */
  freeze(): void {
    this.#process?.kill("SIGSTOP");
  }

  /** Lets a frozen server answer again. */
  thaw(): void {
    this.#process?.kill("SIGCONT");
  }

  /** Kills the server abruptly, as a crash would (no save: its data is gone). */
  async kill(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
