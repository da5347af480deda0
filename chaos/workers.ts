import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const cliMain = fileURLToPath(new URL("../packages/cli/src/main.ts", import.meta.url));

export interface WorkerProcessOptions {
  databaseUrl: string;
  schema: string;
  redisUrl: string;
  lease: string;
  lockTtl: string;
  slots: number;
  /** PostgreSQL connections per worker. */
  pool: number;
}

/**
 * One `capflow worker` process, run as a real Node process (no pnpm or tsx wrapper), so SIGKILL,
 * SIGSTOP and SIGTERM reach the worker itself.
 */
export class WorkerProcess {
  readonly name: string;
  readonly #options: WorkerProcessOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #stopped = false;
  /** The last lines the worker wrote to stderr, for the report when something goes wrong. */
  readonly errors: string[] = [];
  starts = 0;

  constructor(name: string, options: WorkerProcessOptions) {
    this.name = name;
    this.#options = options;
  }

  /** Running (or frozen). Not `child.killed`: that is set by any signal sent, SIGSTOP included. */
  get alive(): boolean {
    return (
      this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
    );
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    const o = this.#options;
    const child = spawn(
      process.execPath,
      [
        "--conditions=@capflow/source",
        "--import",
        "tsx",
        cliMain,
        "worker",
        "--database-url",
        o.databaseUrl,
        "--schema",
        o.schema,
        "--redis-url",
        o.redisUrl,
        "--lease",
        o.lease,
        "--lock-ttl",
        o.lockTtl,
        "--slots",
        String(o.slots),
        "--pool",
        String(o.pool),
        "--summary-every",
        "3600",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (chunk: Buffer) => {
      this.errors.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      if (this.errors.length > 50) this.errors.splice(0, this.errors.length - 50);
    });
    this.#exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    this.#child = child;
    this.#stopped = false;
    this.starts++;
  }

  kill(): Promise<number | null> {
    this.#child?.kill("SIGKILL");
    return this.#exited;
  }

  freeze(): void {
    this.#child?.kill("SIGSTOP");
    this.#stopped = true;
  }

  thaw(): void {
    this.#child?.kill("SIGCONT");
    this.#stopped = false;
  }

  /** SIGTERM; resolves with the exit code (0 after a clean stop). */
  terminate(): Promise<number | null> {
    if (this.#stopped) this.thaw();
    this.#child?.kill("SIGTERM");
    return this.#exited;
  }
}
