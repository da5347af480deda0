import { resolve } from "node:path";
import {
  CachedQueries,
  CapflowError,
  createEngine,
  type Duration,
  type EngineEvent,
  FlowControl,
  InProcessBreakerBoard,
  InProcessLimiter,
  type OutboxEvent,
  systemClock,
  Worker,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import type { ReconcileSchedule } from "@capflow/reconcile";
import {
  CapflowMetrics,
  createServer,
  engineEventLog,
  issueOperatorToken,
  outboxEventLog,
  type ReadinessChecks,
  revokeOperatorToken,
} from "@capflow/server";
import {
  type CapflowDatabase,
  defaultSchema,
  KnexAlertStore,
  KnexIntakeStore,
  KnexQueryCacheStore,
  KnexStartQueueStore,
  KnexStuckStore,
  openPgliteStore,
  openPostgresStore,
  syncProcessors,
} from "@capflow/store-knex";
import { type ProcessAlerts, startProcessAlerts } from "../alert-monitor-option.ts";
import { calendarStartWarnings } from "../calendar-start-warnings.ts";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import {
  addCryptoThreadPoolOption,
  type CryptoThreadPoolOptions,
  cryptoThreadPoolEngineOption,
} from "../crypto-thread-pool-option.ts";
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
  checkStoredChannelsNeedNoKeys,
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
import { addDatabaseOptions, type DatabaseOptions, defaultPgliteDir } from "./database-options.ts";
import { removeLocalServer, writeLocalServer } from "./local-server.ts";

interface ServeOptions
  extends DatabaseOptions,
    ExtensionOptions,
    NotifyOptions,
    KeepRawMessagesOptions,
    CryptoThreadPoolOptions,
    PreparedStatementsOptions,
    KeysCheckIntervalOptions {
  port: string;
  host: string;
  worker?: boolean;
  redisUrl?: string;
  keysDir?: string;
  logLevel: string;
  bodyLimit?: string;
  requestTimeout?: string;
  statements?: string;
  alerts?: string;
  queues?: string;
  holidays?: string[];
}

type Server = ReturnType<typeof createServer>;

/** The token a `capflow serve` on PGlite makes for the other commands of this machine. */
const localTokenName = "capflow-serve-local";

/**
 * `capflow serve`: capflow's HTTP server (health, funder callbacks, the operator API, metrics)
 * over the store, and with `--worker` a worker in the same process. On SIGTERM or SIGINT it stops
 * taking requests, lets those in progress and the steps in flight finish, and closes.
 */
export const serveCommand: CapflowCommand = {
  name: "serve",
  register(program, context) {
    addDatabaseOptions(
      addNotifyOptions(
        addPreparedStatementsOption(
          addCryptoThreadPoolOption(
            addKeysCheckIntervalOption(addKeepRawMessagesOptions(program.command("serve"))),
          ),
        )
          .description(
            "run capflow's HTTP server: funder callbacks, health, operator API, metrics (and a worker with --worker)",
          )
          .option("--port <n>", "port to listen on (0: any free port)", "8080")
          .option(
            "--host <address>",
            "address to listen on (0.0.0.0 or :: for every interface)",
            "127.0.0.1",
          )
          .option("--worker", "also run a worker in this process")
          .option("-p, --processors <module...>", processorsOptionHelp)
          .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
          .option(
            "--redis-url <url>",
            "Redis for instance locks and cluster-wide limits (default: the REDIS_URL environment variable; none: in-process)",
          )
          .option(
            "--keys-dir <dir>",
            "folder that relative `file:` key references of the stored channels resolve against (default: the current folder)",
          )
          .option("--log-level <level>", "pino level: debug, info, warn, error", "info")
          .option("--body-limit <bytes>", "largest request body accepted (default 1048576)")
          .option(
            "--request-timeout <duration>",
            "time a client has to send a whole request, e.g. 30s (default 30s)",
          )
          .option(
            "--statements <dir>",
            "also reconcile the scheduled *.statement.json of this folder, daily after each funder's cut-off (one node at a time, with workers too)",
          )
          .option(
            "--alerts <file>",
            "alert rules and sinks (JSON, as in docs/protection.md): this process counts what it sees for them (calls, limiter refusals, callbacks), one node at a time evaluates them every 30 s; with --statements, reconciliation rules also right after each run",
          )
          .option(
            "--queues <file>",
            `${queuesOptionHelp}; the intake API answers their starts 202 with the queued start`,
          )
          .option("--holidays <file...>", holidaysOptionHelp),
      ),
    ).action((options: ServeOptions) => runServe(options, context));
  },
};

async function runServe(options: ServeOptions, context: CliContext) {
  const port = options.port === "0" ? 0 : positiveInteger(options.port, "--port");
  const bodyLimitBytes =
    options.bodyLimit === undefined
      ? undefined
      : positiveInteger(options.bodyLimit, "--body-limit");
  const requestTimeoutMs =
    options.requestTimeout === undefined
      ? undefined
      : durationOption(options.requestTimeout, "--request-timeout");
  const keysCheckEveryMs = keysCheckIntervalMs(options);
  // Checked before anything opens: a mistyped file stops the command at once.
  const alertsConfig =
    options.alerts === undefined ? undefined : await loadAlertsConfig(options.alerts, context.cwd);
  const queuesFile =
    options.queues === undefined ? undefined : await loadQueuesFile(options.queues, context.cwd);
  const holidays = await loadHolidaysOption(options.holidays, context.cwd);
  const { processors, cryptoHandlers } = await loadExtensions(options, context.cwd);
  const rawMessages = await rawMessageEngineOptions(options, context.cwd);
  const { db, pgliteDir } = await openServeDatabase(options, context);
  let redis: CapflowRedis | undefined;
  let app: Server | undefined;
  let alerts: ProcessAlerts | undefined;
  let queue: ProcessQueue | undefined;
  let stuck: ProcessStuckMonitor | undefined;
  let localTokenId: string | undefined;
  let schedule: ReconcileSchedule | undefined;
  let keysWatch: StoredKeysWatch | undefined;
  try {
    await db.migrate();
    if (queuesFile) await checkQueuedBehaviors(db.definitions, queuesFile);
    if (rawMessages.rawMessageKeys === undefined)
      await checkStoredChannelsNeedNoKeys(db.definitions);
    // The stored channels' and clients' keys, loaded now as their first call would: none loading
    // (a wrong --keys-dir) stops the server; some not loading is logged, channel by channel, and
    // /readyz reports them while the others are served. Checked again while serving (after a
    // push, and those failing each round), so /readyz follows without a restart.
    const keysDir = resolve(context.cwd, options.keysDir ?? ".");
    const secrets = keysDirSecretResolver(keysDir);
    keysWatch = await StoredKeysWatch.open(db.definitions, {
      cryptoHandlers,
      keysDir,
      clients: true,
      intervalMs: keysCheckEveryMs,
      // A round waits for a lock at most a second: SIGTERM does not wait for the lock.
      rounds: lockBoundedRounds(db, keysDir),
      report: {
        failing: (failure) =>
          app?.log.error(
            { code: failure.code, keys: failure.what },
            `${failure.what}: its keys or crypto handler do not load, so it is not served (its calls park, its callbacks and requests are answered 500 ${failure.code}): ${failure.message}`,
          ),
        note: (what, message) => app?.log.info({ keys: what }, message),
        error: (error) => app?.log.error({ err: error }, "stored keys check"),
      },
    });
    const watchedKeys = keysWatch;
    await syncProcessors(db, processors.list());
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (redisUrl) redis = await openRedis({ url: redisUrl });

    // Stuck instances, alerts and (with queues) queued starts: GET /v1/ops/stuck, /alerts,
    // /alerts/:id/history, /queues, and their gauges in /metrics.
    const stuckStore = new KnexStuckStore(db);
    const queueStore = queuesFile ? new KnexStartQueueStore(db) : undefined;
    const metrics = new CapflowMetrics({
      store: db.instances,
      protection: { stuck: stuckStore, ...(queueStore ? { queues: queueStore } : {}) },
    });
    let logEvent: (event: EngineEvent) => void = () => {};
    let logOutbox: (event: OutboxEvent) => void = () => {};
    // Notifications for the upstream: written with each settling commit, delivered by the
    // dispatcher (with the worker, or on its own when this process runs none).
    const notify = await notificationsFromOptions(options, {
      store: db.instances,
      definitions: db.definitions,
      baseDir: keysDir,
      onEvent: (event) => {
        metrics.observeOutbox(event);
        logOutbox(event);
      },
    });
    // Flow control's state where every node sees it (Redis), or this process's own without Redis.
    const flow = redis
      ? { limiter: redis.limiter, breakers: redis.breakers }
      : { limiter: new InProcessLimiter(), breakers: new InProcessBreakerBoard() };
    // The alert rules first evaluate after the stuck-order monitor's first round (started once
    // the server's log is there), so a `stuck` rule sees what it found.
    let firstStuckRound: (round: Promise<void>) => void = () => {};
    const afterFirstStuckRound = new Promise<void>((resolvePromise) => {
      firstStuckRound = (round) => void round.then(resolvePromise);
    });
    alerts =
      alertsConfig === undefined
        ? undefined
        : startProcessAlerts(
            db,
            alertsConfig,
            (error) => app?.log.error({ err: error }, "alert rules"),
            flow.breakers,
            { after: afterFirstStuckRound },
          );
    // One calendar for the engine's calls, the queue's admissions and cached queries' cut-offs.
    const calendar = processCalendar(db.definitions, holidays, (message, notice) => {
      if (app) app.log.warn({ holidays: notice.schedule, year: notice.year }, message);
      else context.err(`warning: ${message}\n`);
    });
    for (const warning of await calendarStartWarnings(db.definitions, calendar, Date.now())) {
      context.err(`warning: ${warning}\n`);
    }
    const onEngineEvent = (event: EngineEvent) => {
      metrics.observeEngine(event);
      alerts?.observe(event);
      logEvent(event);
    };
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors,
      cryptoHandlers,
      secrets,
      calendar,
      flowControl: new FlowControl({
        limiter: flow.limiter,
        breakerBoard: flow.breakers,
        onEvent: (event) => {
          metrics.observeFlow(event);
          alerts?.observeFlow(event);
        },
      }),
      ...(redis ? { locks: redis.locks } : {}),
      onEvent: onEngineEvent,
      ...(notify ? { notifications: true } : {}),
      ...cryptoThreadPoolEngineOption(options),
      ...rawMessages,
    });
    // Queued starts: the intake queues them, one node at a time admits them at each policy's pace.
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
              app?.log.warn(
                {
                  event: event.type,
                  channel: event.queued.channel,
                  behavior: event.queued.behavior,
                  queuedStart: event.queued.id,
                  ...(event.type === "start.expired" && event.reason === "cutoff"
                    ? { code: "CALENDAR_CUTOFF_EXPIRED" }
                    : {}),
                },
                event.type === "start.expired"
                  ? "queued start expired unstarted"
                  : "queued start given up",
              );
            },
            onError: (error) => app?.log.error({ err: error }, "start queue"),
          });
    const readiness: ReadinessChecks = { database: () => db.knex.raw("select 1") };
    if (redis) {
      const client = redis.client;
      readiness.redis = () => client.ping();
    }
    app = createServer({
      engine,
      store: db.instances,
      definitions: db.definitions,
      operators: { tokens: db.operatorTokens },
      flow,
      // Upstream clients come with the pushed definitions; nonces and keys are shared by all nodes.
      intake: {
        definitions: db.definitions,
        store: new KnexIntakeStore(db.knex, { schema: db.schema, target: db.target }),
        secrets,
        // Behaviors with a cache are answered synchronously (POST /v1/queries), cached in the store.
        queries: new CachedQueries({
          engine,
          definitions: db.definitions,
          store: new KnexQueryCacheStore(db),
          clock: systemClock,
          calendar,
        }),
        ...(queue ? { queue: queue.queue } : {}),
      },
      protection: {
        stuck: stuckStore,
        alerts: new KnexAlertStore(db),
        ...(queueStore ? { queues: queueStore } : {}),
      },
      readiness,
      degraded: () =>
        Object.fromEntries(
          watchedKeys
            .failures()
            .map((failure) => [
              failure.what,
              `${failure.code}: its keys or crypto handler do not load; the server's log says why`,
            ]),
        ),
      metrics,
      limits: {
        ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
      },
      log: { level: options.logLevel, stream: { write: (line: string) => context.out(line) } },
    });
    logEvent = engineEventLog(app.log);
    keysWatch.start();
    logOutbox = outboxEventLog(app.log);
    // Stuck orders: every serve and worker node runs the monitor; one at a time runs a round.
    stuck = startProcessStuckMonitor(db, {
      onEvent: onEngineEvent,
      onError: (error) => app?.log.error({ err: error }, "stuck-order monitor"),
    });
    firstStuckRound(stuck.firstRound);
    const worker = options.worker
      ? new Worker(engine, {
          ...(db.wakeUps ? { wakeUps: db.wakeUps } : {}),
          onError: (error) => app?.log.error({ err: error }, "worker failure"),
          ...(notify ? { outbox: notify.dispatcher } : {}),
        })
      : undefined;

    // Handlers go in before the banner: a supervisor may signal as soon as it reads it.
    let resolveStop: (reason: string) => void = () => {};
    const stopped = new Promise<string>((resolvePromise) => {
      resolveStop = resolvePromise;
    });
    const onSignal = (signal: NodeJS.Signals) => resolveStop(signal);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      await app.listen({ port, host: options.host });
      const url = listeningUrl(app, options.host);
      if (pgliteDir !== undefined) {
        // One process owns the folder: the other commands reach this one over HTTP.
        await revokeOperatorToken(db.operatorTokens, {
          idOrName: localTokenName,
          by: null,
          reason: "capflow serve started again: its last run's local token ends",
        });
        const { token, record } = await issueOperatorToken(db.operatorTokens, {
          name: localTokenName,
          role: "operator",
          reason:
            "capflow serve's token for the commands run on this machine while it holds the folder",
        });
        localTokenId = record.id;
        await writeLocalServer(pgliteDir, { url, token, pid: process.pid });
      }
      worker?.start();
      if (notify && !worker) notify.dispatcher.start();
      if (options.statements !== undefined) {
        const log = app.log;
        schedule = await startReconcileSchedule(
          db,
          options.statements,
          context,
          { note: (kind, message) => log.info({ kind }, message) },
          { engine, ...(options.alerts === undefined ? {} : { alertsFile: options.alerts }) },
        );
      }
      context.out(
        `capflow serve on ${url} (${db.target}${redis ? ", Redis locks and limits" : ""})${worker ? " with a worker" : ""}; stop with Ctrl-C or SIGTERM\n`,
      );
      const reason = await stopped;
      context.out(
        `${reason}: no new requests; finishing those in progress and the steps in flight…\n`,
      );
      await app.close();
      await keysWatch.stop();
      await stuck.stop();
      await queue?.stop();
      await schedule?.stop();
      await worker?.stop();
      if (notify && !worker) {
        await notify.dispatcher.stop();
        await notify.dispatcher.flush();
      }
      await notify?.dispatcher.close();
      await engine.close();
      context.out("stopped\n");
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  } finally {
    if (pgliteDir !== undefined) await removeLocalServer(pgliteDir);
    if (localTokenId !== undefined) {
      await revokeOperatorToken(db.operatorTokens, {
        idOrName: localTokenId,
        by: null,
        reason: "capflow serve stopped",
      }).catch(() => undefined);
    }
    await schedule?.stop();
    await app?.close();
    await keysWatch?.stop();
    await stuck?.stop();
    await queue?.stop();
    await alerts?.stop();
    await redis?.close();
    await db.close();
  }
}

function listeningUrl(app: Server, host: string): string {
  const address = app.server.address();
  const port = address !== null && typeof address === "object" ? address.port : 0;
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
}

/** PostgreSQL with a URL (option or DATABASE_URL), else PGlite in a folder (default `.capflow/db`). */
async function openServeDatabase(
  options: ServeOptions,
  context: CliContext,
): Promise<{ db: CapflowDatabase; pgliteDir?: string }> {
  const databaseUrl =
    options.databaseUrl ?? (options.pglite === undefined ? process.env.DATABASE_URL : undefined);
  const definitions = { baseDir: resolve(context.cwd, options.keysDir ?? ".") };
  const schema = options.schema ?? defaultSchema;
  if (databaseUrl) {
    return {
      db: openPostgresStore({
        connectionString: databaseUrl,
        schema,
        definitions,
        ...preparedStatementsStoreOption(options),
      }),
    };
  }
  const pgliteDir = resolve(context.cwd, options.pglite ?? defaultPgliteDir);
  return { db: await openPgliteStore({ dataDir: pgliteDir, schema, definitions }), pgliteDir };
}

function durationOption(value: string, name: string): number {
  try {
    return parseDuration(value as Duration);
  } catch {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${name} takes a duration such as 30s, 2m or 1500ms, not ${JSON.stringify(value)}`,
    );
  }
}
