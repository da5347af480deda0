import { resolve } from "node:path";
import {
  CapflowError,
  createEngine,
  type Duration,
  type EngineEvent,
  FlowControl,
  type FlowEvent,
  InProcessLimiter,
  Worker,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import {
  type CapflowDatabase,
  defaultSchema,
  openPgliteStore,
  openPostgresStore,
  syncProcessors,
} from "@capflow/store-knex";
import { Option } from "commander";
import { type ProcessAlerts, startProcessAlerts } from "../alert-monitor-option.ts";
import { calendarStartWarnings } from "../calendar-start-warnings.ts";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import {
  addCryptoThreadPoolOption,
  type CryptoThreadPoolOptions,
  cryptoThreadPoolEngineOption,
} from "../crypto-thread-pool-option.ts";
import { describeError } from "../describe-error.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { holidaysOptionHelp, loadHolidaysOption, processCalendar } from "../holidays-option.ts";
import {
  addKeysCheckIntervalOption,
  type KeysCheckIntervalOptions,
  keysCheckIntervalMs,
} from "../keys-check-interval-option.ts";
import {
  addNotifyOptions,
  type NotifyOptions,
  notificationsFromOptions,
} from "../notify-options.ts";
import { positiveInteger } from "../positive-integer.ts";
import {
  addPreparedStatementsOption,
  type PreparedStatementsOptions,
  preparedStatementsStoreOption,
} from "../prepared-statements-option.ts";
import { checkQueuedBehaviors, loadQueuesFile, queuesOptionHelp } from "../queues-file.ts";
import {
  addKeepRawMessagesOptions,
  type KeepRawMessagesOptions,
  rawMessageEngineOptions,
} from "../raw-message-keys-option.ts";
import { loadAlertsConfig } from "../reconcile-alerts-option.ts";
import { startReconcileSchedule } from "../reconcile-schedule-runner.ts";
import { type ProcessQueue, startProcessQueue } from "../start-queue-option.ts";
import { keysDirSecretResolver } from "../stored-keys-check.ts";
import { lockBoundedRounds } from "../stored-keys-rounds.ts";
import { StoredKeysWatch } from "../stored-keys-watch.ts";
import { type ProcessStuckMonitor, startProcessStuckMonitor } from "../stuck-monitor-runner.ts";
import { createWorkerReporter, eventsNamingAnInstance, type LogFormat } from "../worker-report.ts";
import { addDatabaseOptions, type DatabaseOptions, defaultPgliteDir } from "./database-options.ts";

interface WorkerCommandOptions
  extends DatabaseOptions,
    ExtensionOptions,
    NotifyOptions,
    KeepRawMessagesOptions,
    CryptoThreadPoolOptions,
    PreparedStatementsOptions,
    KeysCheckIntervalOptions {
  redisUrl?: string;
  redisKeyPrefix?: string;
  concurrency: string;
  batchSize: string;
  slots?: string;
  prefetch?: string;
  commitsInFlight?: string;
  lease?: string;
  lockTtl?: string;
  pool?: string;
  channels?: string[];
  keysDir?: string;
  summaryEvery?: string;
  logFormat: LogFormat;
  exitWhenIdle?: boolean;
  statements?: string;
  alerts?: string;
  queues?: string;
  holidays?: string[];
}

/**
 * `capflow worker`: runs the engine's worker loop against the store (definitions come from the
 * store: push them first), with the processors of the given modules, and Redis locks and limits
 * when a Redis URL is given. Tells the operator what happens (worker-report.ts): settled instances,
 * failed attempts, parked instances, breakers, limiter waits, counts every minute and at exit. On SIGTERM
 * or SIGINT it stops claiming, lets the steps in flight commit, and exits: nothing is lost, the
 * instances it had claimed but not started are resumed by any worker once their lease expires.
 */
export const workerCommand: CapflowCommand = {
  name: "worker",
  register(program, context) {
    addDatabaseOptions(
      addNotifyOptions(
        addPreparedStatementsOption(
          addCryptoThreadPoolOption(
            addKeysCheckIntervalOption(addKeepRawMessagesOptions(program.command("worker"))),
          ),
        )
          .description(
            "run workers against the store: claim due instances, run their steps, until SIGTERM/SIGINT",
          )
          .option("-p, --processors <module...>", processorsOptionHelp)
          .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
          .option(
            "--redis-url <url>",
            "Redis for instance locks and cluster-wide limits (default: the REDIS_URL environment variable; none: in-process)",
          )
          .option(
            "--redis-key-prefix <prefix>",
            'prefix of every Redis key, so several deployments share one Redis (default: "capflow:"; every worker of one deployment must use the same)',
          )
          .option(
            "--slots <n>",
            "instances run at once, each in its own slot; a freed slot starts the next claimed instance at once (default: concurrency × batch size)",
          )
          .option(
            "--prefetch <n>",
            "instances claimed ahead of free slots, waiting in the worker for one; given back at a stop or after half their lease (default: batch size; 0: claim for free slots only)",
          )
          .option(
            "--commits-in-flight <n>",
            "runs past their slot waiting on their last commit (the slot went to the next instance); beyond it a run keeps its slot (default: 4 × slots; 0: every run keeps its slot until its commit returns)",
          )
          .option("--concurrency <n>", "with --batch-size, sets the default number of slots", "2")
          .option("--batch-size <n>", "instances claimed by one claim query at most", "16")
          .option("--channels <code...>", "only these channels")
          .option(
            "--lease <duration>",
            "how long a claim is leased: a crashed or frozen worker's instances resume elsewhere after it (default 60s; see docs/operations.md)",
          )
          .option(
            "--pool <n>",
            "PostgreSQL connections of this worker at most (default 10); partner calls hold none",
          )
          .option(
            "--lock-ttl <duration>",
            "time to live of instance locks, renewed while held (default 30s)",
          )
          .option(
            "--keys-dir <dir>",
            "folder that relative `file:` key references of the stored channels resolve against (default: the current folder)",
          )
          .option(
            "--summary-every <seconds>",
            "print the counts this often (default 60) and no line per settled instance",
          )
          .addOption(
            new Option("--log-format <format>", "text for people, json: one object per line")
              .choices(["text", "json"])
              .default("text"),
          )
          .option(
            "--statements <dir>",
            "also reconcile the scheduled *.statement.json of this folder, daily after each funder's cut-off (one node at a time)",
          )
          .option(
            "--alerts <file>",
            "alert rules and sinks (JSON, as in docs/protection.md): this worker counts what it sees for them, one node at a time evaluates them every 30 s; with --statements, reconciliation rules also right after each run",
          )
          .option("--queues <file>", queuesOptionHelp)
          .option("--holidays <file...>", holidaysOptionHelp)
          .option(
            "--exit-when-idle",
            "stop once no instance is due (for batch runs and tests); waiting instances stay waiting and queued starts stay queued",
          ),
      ),
    ).action((options: WorkerCommandOptions) => runWorkerCommand(options, context));
  },
};

async function runWorkerCommand(options: WorkerCommandOptions, context: CliContext): Promise<void> {
  // Handlers go in first: a supervisor may signal while the worker is still starting (opening the
  // store, loading every channel's keys), and a signal that arrives with no handler installed
  // kills the process. One that arrives while starting stops the worker once it has started.
  let resolveStop: (reason: string) => void = () => {};
  const stopped = new Promise<string>((resolvePromise) => {
    resolveStop = resolvePromise;
  });
  // Installed until the steps in flight are done: a second signal (Ctrl-C reaches both pnpm and
  // the worker) must not fall through to Node's default and kill the process mid-step.
  const onSignal = (signal: NodeJS.Signals) => resolveStop(signal);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await runWorker(options, context, stopped, resolveStop);
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

async function runWorker(
  options: WorkerCommandOptions,
  context: CliContext,
  stopped: Promise<string>,
  resolveStop: (reason: string) => void,
) {
  const concurrency = positiveInteger(options.concurrency, "--concurrency");
  const batchSize = positiveInteger(options.batchSize, "--batch-size");
  const slots =
    options.slots === undefined
      ? concurrency * batchSize
      : positiveInteger(options.slots, "--slots");
  const prefetch =
    options.prefetch === undefined ? batchSize : wholeNumber(options.prefetch, "--prefetch");
  const commitsInFlight =
    options.commitsInFlight === undefined
      ? undefined
      : wholeNumber(options.commitsInFlight, "--commits-in-flight");
  const leaseMs =
    options.lease === undefined ? undefined : durationOption(options.lease, "--lease");
  const lockTtlMs =
    options.lockTtl === undefined ? undefined : durationOption(options.lockTtl, "--lock-ttl");
  const summaryEveryMs =
    options.summaryEvery === undefined
      ? 60_000
      : positiveInteger(options.summaryEvery, "--summary-every") * 1000;
  const keysCheckEveryMs = keysCheckIntervalMs(options);
  const report = createWorkerReporter({
    format: options.logFormat,
    out: context.out,
    eachSettled: options.summaryEvery === undefined,
  });

  // Checked before anything opens: a mistyped file stops the command at once.
  const alertsConfig =
    options.alerts === undefined ? undefined : await loadAlertsConfig(options.alerts, context.cwd);
  const queuesFile =
    options.queues === undefined ? undefined : await loadQueuesFile(options.queues, context.cwd);
  const holidays = await loadHolidaysOption(options.holidays, context.cwd);
  const { processors, cryptoHandlers } = await loadExtensions(options, context.cwd);
  const rawMessages = await rawMessageEngineOptions(options, context.cwd);
  const db = await openWorkerDatabase(options, context);
  let redis: CapflowRedis | undefined;
  let alerts: ProcessAlerts | undefined;
  let queue: ProcessQueue | undefined;
  let stuck: ProcessStuckMonitor | undefined;
  let keysWatch: StoredKeysWatch | undefined;
  try {
    if (queuesFile) await checkQueuedBehaviors(db.definitions, queuesFile);
    // The stored channels' keys, loaded now as their first call would: none loading (a wrong
    // --keys-dir) stops the worker; some not loading is said, channel by channel, and the
    // others are served. Checked again while running: after a push, and those failing each round.
    const keysDir = resolve(context.cwd, options.keysDir ?? ".");
    keysWatch = await StoredKeysWatch.open(db.definitions, {
      cryptoHandlers,
      keysDir,
      clients: false,
      ...(options.channels ? { channels: options.channels } : {}),
      intervalMs: keysCheckEveryMs,
      // A round waits for a lock at most a second: SIGTERM does not wait for the lock.
      rounds: lockBoundedRounds(db, keysDir),
      report: {
        failing: (failure) =>
          context.err(
            `error: [${failure.code}] ${failure.what}: its keys or crypto handler do not load, its instances will park at their next call: ${failure.message}\n`,
          ),
        note: (_what, message) => report.note("keys", `${new Date().toISOString()} ${message}`),
        error: (error) => context.err(`stored keys check: ${describeError(error)}\n`),
      },
    });
    keysWatch.start();
    await syncProcessors(db, processors.list());
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (redisUrl)
      redis = await openRedis({
        url: redisUrl,
        ...(options.redisKeyPrefix === undefined ? {} : { keyPrefix: options.redisKeyPrefix }),
      });

    const printing = new Set<Promise<void>>();
    // Lines about an instance name it: look it up first, in order of the events.
    let lookups: Promise<void> = Promise.resolve();
    const onEvent = (event: EngineEvent) => {
      alerts?.observe(event);
      if (!eventsNamingAnInstance.has(event.type) || !("instanceId" in event)) {
        report.engine(event);
        return;
      }
      const lookup = db.instances.getInstance(event.instanceId).catch(() => undefined);
      lookups = lookups.then(async () => report.engine(event, await lookup));
      const printed = lookups;
      printing.add(printed);
      void printed.finally(() => printing.delete(printed));
    };
    const onFlowEvent = (event: FlowEvent) => {
      alerts?.observeFlow(event);
      report.flow(event);
    };
    const notify = await notificationsFromOptions(options, {
      store: db.instances,
      definitions: db.definitions,
      baseDir: keysDir,
      onEvent: (event) => {
        if (event.type === "notification.failed")
          context.err(
            `notification ${event.id} of ${event.instanceId} not delivered (${event.code})${event.willRetry ? "; will retry" : "; gave up: re-send it when the receiver is back"}\n`,
          );
      },
    });
    // Stuck orders: one node at a time checks the SLAs (an advisory lock on PostgreSQL). The
    // alert rules first evaluate after its first round, so a `stuck` rule sees what it found.
    stuck = startProcessStuckMonitor(db, {
      onEvent,
      onError: (error) => context.err(`stuck-order monitor: ${describeError(error)}\n`),
    });
    alerts =
      alertsConfig === undefined
        ? undefined
        : startProcessAlerts(
            db,
            alertsConfig,
            (error) => context.err(`alerts: ${describeError(error)}\n`),
            redis?.breakers,
            { after: stuck.firstRound },
          );
    // One calendar for the engine's calls and the queue's admissions.
    const calendar = processCalendar(db.definitions, holidays, (message) =>
      report.note("calendar", `warning: ${message}`),
    );
    for (const warning of await calendarStartWarnings(db.definitions, calendar, Date.now())) {
      report.note("calendar", `warning: ${warning}`);
    }
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors,
      cryptoHandlers,
      secrets: keysDirSecretResolver(keysDir),
      calendar,
      ...(redis
        ? {
            locks: redis.locks,
            flowControl: new FlowControl({
              limiter: redis.limiter,
              breakerBoard: redis.breakers,
              onEvent: onFlowEvent,
            }),
          }
        : {
            flowControl: new FlowControl({
              limiter: new InProcessLimiter(),
              onEvent: onFlowEvent,
            }),
          }),
      onEvent,
      ...(notify ? { notifications: true } : {}),
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(lockTtlMs === undefined ? {} : { lockTtlMs }),
      ...cryptoThreadPoolEngineOption(options),
      ...rawMessages,
    });
    const errors: unknown[] = [];
    const worker = new Worker(engine, {
      slots,
      batchSize,
      prefetch,
      ...(commitsInFlight === undefined ? {} : { commitsInFlight }),
      // PostgreSQL: claim at once on a start, a stored callback or a retry coming due.
      ...(db.wakeUps ? { wakeUps: db.wakeUps } : {}),
      ...(options.channels ? { channels: options.channels } : {}),
      ...(notify ? { outbox: notify.dispatcher } : {}),
      onError: (error) => {
        errors.push(error);
        context.err(`worker: ${describeError(error)}\n`);
      },
      onInboxSwept: (swept) => {
        if (swept.recorded + swept.conflicts === 0) return;
        report.note(
          "inbox",
          `${new Date().toISOString()} inbox: ${swept.recorded} late notifications recorded, ${swept.conflicts} contradicting how their instance settled (needing attention)`,
        );
      },
    });
    report.note(
      "started",
      `capflow worker on ${db.target}${redis ? " with Redis locks and limits" : ""}: ${slots} slots, ${processors.names().length} processors, ${cryptoHandlers.names().length} crypto handlers${options.cryptoThreadPool === false ? " (private keys on the event loop)" : ""}${options.exitWhenIdle ? ", until idle" : "; stop with Ctrl-C or SIGTERM"}`,
    );
    worker.start();
    // Queued starts: one node at a time admits them at each policy's pace.
    queue =
      queuesFile === undefined
        ? undefined
        : startProcessQueue(db, queuesFile, {
            engine,
            definitions: db.definitions,
            calendar,
            ...(alerts ? { alerts } : {}),
            onEvent: (event) => {
              if (event.type === "start.admitted") return;
              report.note(
                "queue",
                `${new Date().toISOString()} queued start ${event.queued.channel}/${event.queued.behavior} ${event.queued.businessKey} ${event.type === "start.expired" ? `expired unstarted${event.reason === "cutoff" ? " at its channel's cut-off (CALENDAR_CUTOFF_EXPIRED)" : ""}` : `given up after ${event.queued.attempts} attempts (${event.code})`}`,
              );
            },
            onError: (error) =>
              context.err(
                `start queue: ${error instanceof Error ? error.message : String(error)}\n`,
              ),
          });
    const schedule =
      options.statements === undefined
        ? undefined
        : await startReconcileSchedule(db, options.statements, context, report, {
            engine,
            ...(options.alerts === undefined ? {} : { alertsFile: options.alerts }),
          });
    const timers: NodeJS.Timeout[] = [];
    timers.push(setInterval(() => report.minute(), summaryEveryMs));
    if (options.exitWhenIdle) {
      timers.push(
        setInterval(() => {
          if (worker.idleClaims >= 2) resolveStop("idle");
        }, 100),
      );
    }
    const reason = await stopped;
    for (const timer of timers) clearInterval(timer);
    await stuck.stop();
    await queue?.stop();
    if (reason !== "idle") report.note("stopping", `${reason}: finishing the steps in flight…`);
    try {
      // The signal handlers stay until the command ends (runWorkerCommand).
      await worker.stop();
    } finally {
      await schedule?.stop();
    }
    await engine.close();
    await notify?.dispatcher.close();
    await Promise.all(printing);
    report.summary();
    if (errors.length > 0) context.setExitCode(1);
  } finally {
    // Stopped here too when the start failed half-way, so no round keeps the process alive.
    await keysWatch?.stop();
    await stuck?.stop();
    await queue?.stop();
    await alerts?.stop();
    await redis?.close();
    await db.close();
  }
}

/** A duration option (`500ms`, `10s`, `2m`), at least a second. */
function durationOption(value: string, name: string): number {
  let ms: number;
  try {
    ms = parseDuration(value as Duration);
  } catch {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${name} takes a duration such as 10s, 2m or 1500ms, not ${JSON.stringify(value)}`,
    );
  }
  if (ms < 1_000) {
    throw new CapflowError("CONFIG_INVALID", `${name} must be at least 1s (got ${value})`);
  }
  return ms;
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
    return openPostgresStore({
      connectionString: databaseUrl,
      schema,
      definitions,
      ...preparedStatementsStoreOption(options),
      ...(options.pool === undefined
        ? {}
        : { pool: { max: positiveInteger(options.pool, "--pool") } }),
    });
  }
  return openPgliteStore({
    dataDir: resolve(context.cwd, options.pglite ?? defaultPgliteDir),
    schema,
    definitions,
  });
}

/** A count that may be 0 (`--prefetch 0`), refused with the option's name otherwise. */
function wholeNumber(value: string, option: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new CapflowError("CONFIG_INVALID", `${option} must be a whole number of 0 or more`);
  }
  return parsed;
}
