import { resolve } from "node:path";
import {
  createEngine,
  type EngineEvent,
  FlowControl,
  InProcessLimiter,
  type InstanceRecord,
  Worker,
} from "@capflow/core";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import {
  type CapflowDatabase,
  defaultSchema,
  openPgliteStore,
  openPostgresStore,
  syncProcessors,
} from "@capflow/store-knex";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { positiveInteger } from "../positive-integer.ts";
import { addDatabaseOptions, type DatabaseOptions, defaultPgliteDir } from "./database-options.ts";

interface WorkerCommandOptions extends DatabaseOptions, ExtensionOptions {
  redisUrl?: string;
  concurrency: string;
  batchSize: string;
  channels?: string[];
  keysDir?: string;
  summaryEvery?: string;
  exitWhenIdle?: boolean;
}

/**
 * `capflow worker`: runs the engine's worker loop against the store (definitions come from the
 * store: push them first), with the processors of the given modules, and Redis locks and limits
 * when a Redis URL is given. Prints a line per settled instance (or a periodic summary). On SIGTERM
 * or SIGINT it stops claiming, lets the steps in flight commit, and exits: nothing is lost, the
 * instances it had claimed but not started are resumed by any worker once their lease expires.
 */
export const workerCommand: CapflowCommand = {
  name: "worker",
  register(program, context) {
    addDatabaseOptions(
      program
        .command("worker")
        .description(
          "run workers against the store: claim due instances, run their steps, until SIGTERM/SIGINT",
        )
        .option("-p, --processors <module...>", processorsOptionHelp)
        .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
        .option(
          "--redis-url <url>",
          "Redis for instance locks and cluster-wide limits (default: the REDIS_URL environment variable; none: in-process)",
        )
        .option("--concurrency <n>", "claim rounds running at once", "2")
        .option("--batch-size <n>", "instances claimed per round", "16")
        .option("--channels <code...>", "only these channels")
        .option(
          "--keys-dir <dir>",
          "folder that relative `file:` key references of the stored channels resolve against (default: the current folder)",
        )
        .option(
          "--summary-every <seconds>",
          "print a summary line this often instead of a line per settled instance",
        )
        .option(
          "--exit-when-idle",
          "stop once no instance is due (for batch runs and tests); waiting instances stay waiting",
        ),
    ).action((options: WorkerCommandOptions) => runWorkerCommand(options, context));
  },
};

async function runWorkerCommand(options: WorkerCommandOptions, context: CliContext) {
  const concurrency = positiveInteger(options.concurrency, "--concurrency");
  const batchSize = positiveInteger(options.batchSize, "--batch-size");
  const summaryEveryMs =
    options.summaryEvery === undefined
      ? undefined
      : positiveInteger(options.summaryEvery, "--summary-every") * 1000;

  const { processors, cryptoHandlers } = await loadExtensions(options, context.cwd);
  const db = await openWorkerDatabase(options, context);
  let redis: CapflowRedis | undefined;
  try {
    await syncProcessors(db, processors.list());
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (redisUrl) redis = await openRedis({ url: redisUrl });

    const counts = { steps: 0, settled: 0, failedSteps: 0, attention: 0 };
    const printing = new Set<Promise<void>>();
    const describeSettled = (instance: InstanceRecord | undefined, event: SettledEvent) => {
      const what = instance
        ? `${instance.channel}/${instance.behavior} ${instance.businessKey}`
        : event.instanceId;
      context.out(
        `${new Date().toISOString()} ${event.status.padEnd(9)} ${what} at ${event.step} (${event.instanceId})\n`,
      );
    };
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors,
      cryptoHandlers,
      ...(redis
        ? { locks: redis.locks, flowControl: new FlowControl({ limiter: redis.limiter }) }
        : { flowControl: new FlowControl({ limiter: new InProcessLimiter() }) }),
      onEvent: (event: EngineEvent) => {
        if (event.type === "step.succeeded") counts.steps++;
        else if (event.type === "step.failed") counts.failedSteps++;
        else if (event.type === "instance.attention") counts.attention++;
        else if (event.type === "instance.settled") {
          counts.settled++;
          if (summaryEveryMs === undefined) {
            const printed = db.instances.getInstance(event.instanceId).then(
              (instance) => describeSettled(instance, event),
              () => describeSettled(undefined, event),
            );
            printing.add(printed);
            void printed.finally(() => printing.delete(printed));
          }
        }
      },
    });
    const errors: unknown[] = [];
    const worker = new Worker(engine, {
      concurrency,
      batchSize,
      ...(options.channels ? { channels: options.channels } : {}),
      onError: (error) => {
        errors.push(error);
        context.err(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
      },
      onInboxSwept: (swept) => {
        if (swept.recorded + swept.conflicts === 0) return;
        context.out(
          `${new Date().toISOString()} inbox: ${swept.recorded} late notifications recorded, ${swept.conflicts} contradicting how their instance settled (needing attention)\n`,
        );
      },
    });
    // Handlers go in before the banner: a supervisor may signal as soon as it reads it, and a
    // signal that arrives with no handler installed kills the process mid-step.
    let resolveStop: (reason: string) => void = () => {};
    const stopped = new Promise<string>((resolvePromise) => {
      resolveStop = resolvePromise;
    });
    // Installed until the steps in flight are done: a second signal (Ctrl-C reaches both pnpm and
    // the worker) must not fall through to Node's default and kill the process mid-step.
    const onSignal = (signal: NodeJS.Signals) => resolveStop(signal);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    context.out(
      `capflow worker on ${db.target}${redis ? " with Redis locks and limits" : ""}: ${concurrency} × ${batchSize}, ${processors.names().length} processors, ${cryptoHandlers.names().length} crypto handlers${options.exitWhenIdle ? ", until idle" : "; stop with Ctrl-C or SIGTERM"}\n`,
    );
    worker.start();
    const timers: NodeJS.Timeout[] = [];
    if (summaryEveryMs !== undefined) {
      timers.push(
        setInterval(() => {
          context.out(
            `${new Date().toISOString()} ${counts.steps} steps, ${counts.failedSteps} failed steps, ${counts.settled} settled, ${counts.attention} needing attention\n`,
          );
        }, summaryEveryMs),
      );
    }
    if (options.exitWhenIdle) {
      let idleChecks = 0;
      timers.push(
        setInterval(() => {
          dueCount(db).then(
            (due) => {
              idleChecks = due === 0 ? idleChecks + 1 : 0;
              if (idleChecks >= 2) resolveStop("idle");
            },
            // The database briefly away: not idle, ask again at the next tick.
            () => {
              idleChecks = 0;
            },
          );
        }, 250),
      );
    }
    const reason = await stopped;
    for (const timer of timers) clearInterval(timer);
    if (reason !== "idle") context.out(`${reason}: finishing the steps in flight…\n`);
    try {
      await worker.stop();
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
    await engine.close();
    await Promise.all(printing);
    context.out(
      `stopped: ${counts.steps} steps, ${counts.settled} instances settled, ${counts.attention} needing attention\n`,
    );
    if (errors.length > 0) context.setExitCode(1);
  } finally {
    await redis?.close();
    await db.close();
  }
}

type SettledEvent = Extract<EngineEvent, { type: "instance.settled" }>;

/** Instances due now (runnable, with a due time in the past). */
async function dueCount(db: CapflowDatabase): Promise<number> {
  const now = Date.now();
  const unsettled = await db.instances.listInstances({ status: ["active", "waiting"] });
  return unsettled.filter((instance) => instance.nextRunAt !== null && instance.nextRunAt <= now)
    .length;
}

/** Like `openDatabase`, with the folder key references resolve against. */
async function openWorkerDatabase(
  options: WorkerCommandOptions,
  context: CliContext,
): Promise<CapflowDatabase> {
  const databaseUrl =
    options.databaseUrl ?? (options.pglite === undefined ? process.env.DATABASE_URL : undefined);
  const definitions = { baseDir: resolve(context.cwd, options.keysDir ?? ".") };
  const schema = options.schema ?? defaultSchema;
  if (databaseUrl) {
    return openPostgresStore({ connectionString: databaseUrl, schema, definitions });
  }
  return openPgliteStore({
    dataDir: resolve(context.cwd, options.pglite ?? defaultPgliteDir),
    schema,
    definitions,
  });
}
