import {
  type Actor,
  CapflowError,
  createEngine,
  type Engine,
  type InstanceRecord,
  type InstanceStatus,
  isSettled,
  type MaskingRules,
  type MigrationReport,
  maskFields,
  ProcessorRegistry,
  pendingRefusalEntry,
  registerBuiltinProcessors,
  type StepLogEntry,
  settledStatuses,
} from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type {
  HistoryEntryView,
  InstanceAnswer,
  InstanceDetailView,
  InstanceSummaryView,
  ListPage,
} from "@capflow/server";
import type { CapflowDatabase } from "@capflow/store-knex";
import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import { commandLineOperator } from "../command-line-operator.ts";
import { plural } from "../plural.ts";
import { positiveInteger } from "../positive-integer.ts";
import { iso, textTable } from "../text-table.ts";
import {
  addDatabaseOptions,
  type DatabaseOptions,
  getFromLocalServer,
  localServerHolding,
  withDatabase,
} from "./database-options.ts";
import { registerStartInstance } from "./instances-start.ts";
import { registerStuckInstances } from "./instances-stuck.ts";
import type { LocalServer } from "./local-server.ts";

const statuses: readonly InstanceStatus[] = ["active", "waiting", ...settledStatuses];

interface ListOptions extends DatabaseOptions {
  status?: string[];
  channel?: string;
  behavior?: string;
  businessKey?: string;
  product?: string;
  olderThan?: string;
  limit: string;
  json?: boolean;
}

interface ActorOptions extends DatabaseOptions {
  who?: string;
  why?: string;
}

/**
 * `capflow instances`: what an operator needs on a running system. `list` and `show` read the
 * store (`show` masks personal data with the channel's and behavior's rules); `retry`, `move` and
 * `cancel` act through the engine, with compare-and-set, recording who did it and why.
 *
 * Longer than most files on purpose: the subcommands share options, masking and output helpers,
 * and one file per command group is how every `capflow` command is laid out.
 */
export const instancesCommand: CapflowCommand = {
  name: "instances",
  register(program, context) {
    const instances = program
      .command("instances")
      .description(
        "list, inspect, start and operate instances: list, stuck, start, show, retry, move, cancel, migrate",
      );

    addDatabaseOptions(
      instances
        .command("list")
        .description("list instances, oldest first")
        .option("--status <status...>", `only these statuses (${statuses.join(", ")})`)
        .option("--channel <code>", "only this channel")
        .option("--behavior <code>", "only this behavior")
        .option("--business-key <key>", "only this business key (every behavior's instance)")
        .option("--product <code>", "only instances routed for this product")
        .option("--older-than <duration>", "only instances not updated for this long, e.g. 10m")
        .option("--limit <n>", "at most this many", "50")
        .option("--json", "one JSON object per line"),
    ).action(async (options: ListOptions) => {
      const server = await localServerHolding(options, context);
      if (server) return listThroughServer(server, options, context);
      return withDatabase(options, context, (db) => listInstances(db, options, context));
    });

    registerStuckInstances(instances, context);
    registerStartInstance(instances, context);

    addDatabaseOptions(
      instances
        .command("show")
        .description("one instance and its history (personal data masked)")
        .argument("<id>", "instance id")
        .option("--json", "as JSON"),
    ).action(async (id: string, options: DatabaseOptions & { json?: boolean }) => {
      const server = await localServerHolding(options, context);
      if (server) return showThroughServer(server, id, options.json === true, context);
      return withDatabase(options, context, (db) =>
        showInstance(db, id, options.json === true, context),
      );
    });

    addDatabaseOptions(
      instances
        .command("watch")
        .description(
          "follow one instance: its history as it grows, until it settles (Ctrl-C to stop watching)",
        )
        .argument("<id>", "instance id")
        .option("--interval <seconds>", "how often to look", "1")
        .option("--timeout <seconds>", "give up after this long (exit 1)")
        .option("--json", "one JSON object per history entry, then the settled instance"),
    ).action(async (id: string, options: DatabaseOptions & WatchOptions) => {
      const server = await localServerHolding(options, context);
      if (server) return watchInstance(lookThroughServer(server, id), options, context);
      return withDatabase(options, context, (db) =>
        watchInstance(lookInStore(db, id), options, context),
      );
    });

    addActor(
      addDatabaseOptions(
        instances
          .command("retry")
          .description("make a parked or waiting instance due now (after fixing what stopped it)")
          .argument("<id>", "instance id"),
      ),
    ).action((id: string, options: ActorOptions) =>
      operate(options, context, (engine, actor) => engine.retryNow(id, actor)),
    );

    addActor(
      addDatabaseOptions(
        instances
          .command("move")
          .description("move an instance to a step, even out of a settled status (e.g. manual)")
          .argument("<id>", "instance id")
          .argument("<step>", "step code of the instance's behavior")
          .option(
            "--call-not-processed",
            "the partner confirmed it did not process the call whose outcome is unknown (in flight, or never settled): a move back to its step may send it again, with a new serial",
          ),
      ),
    ).action((id: string, step: string, options: ActorOptions & { callNotProcessed?: boolean }) =>
      operate(options, context, (engine, actor) =>
        engine.moveTo(id, step, actor, { callNotProcessed: options.callNotProcessed === true }),
      ),
    );

    addActor(
      addDatabaseOptions(
        instances
          .command("cancel")
          .description("cancel an unsettled instance (a call possibly in flight is not undone)")
          .argument("<id>", "instance id"),
      ),
    ).action((id: string, options: ActorOptions) =>
      operate(options, context, (engine, actor) => engine.cancel(id, actor)),
    );

    addActor(
      addDatabaseOptions(
        instances
          .command("migrate")
          .description(
            "move the waiting and parked instances of a behavior version to another version",
          )
          .requiredOption("-b, --behavior <channel/behavior>", "which behavior, e.g. lanbank/loan")
          .requiredOption("--from <version>", "the version the instances are pinned to")
          .requiredOption("--to <version>", "the version to move them to")
          .option(
            "--map <old=new...>",
            "step of --from -> step of --to, for steps the target lacks (repeatable)",
          )
          .option(
            "--retry-parked",
            "make parked instances due at once after their move (as instances retry does)",
          )
          .option("--dry-run", "list what would move and what would be refused; move nothing")
          .option("--json", "the report as JSON"),
      ),
    ).action((options: MigrateOptions) => migrate(options, context));
  },
};

interface MigrateOptions extends ActorOptions {
  behavior: string;
  from: string;
  to: string;
  map?: string[];
  retryParked?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

async function migrate(options: MigrateOptions, context: CliContext) {
  const [channel, behavior, extra] = options.behavior.split("/");
  if (!channel || !behavior || extra !== undefined) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `--behavior takes <channel>/<behavior>, e.g. lanbank/loan, not "${options.behavior}"`,
    );
  }
  const map: Record<string, string> = {};
  for (const pair of options.map ?? []) {
    const [from, to, more] = pair.split("=");
    if (!from || !to || more !== undefined) {
      throw new CapflowError("CONFIG_INVALID", `--map takes old=new step codes, not "${pair}"`);
    }
    map[from] = to;
  }
  const dryRun = options.dryRun === true;
  if (!dryRun && (!options.who || !options.why)) {
    throw new CapflowError(
      "CONFIG_INVALID",
      "say who moves the instances and why: --who <name> --why <reason> (both are recorded in each instance's history); --dry-run needs neither",
    );
  }
  const request = {
    channel,
    behavior,
    from: positiveInteger(options.from, "--from"),
    to: positiveInteger(options.to, "--to"),
    map,
    retryParked: options.retryParked === true,
    dryRun,
  };
  await withDatabase(options, context, async (db) => {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    // Ctrl-C ends the run after the instances in hand; running it again moves the rest.
    const stop = new AbortController();
    const interrupt = () => stop.abort();
    process.once("SIGINT", interrupt);
    try {
      const actor =
        options.who && options.why
          ? { who: commandLineOperator(options.who), why: options.why }
          : undefined;
      const report = await engine.migrateInstances(request, actor, { signal: stop.signal });
      context.out(
        options.json === true
          ? `${JSON.stringify(report, null, 2)}\n`
          : `${describeMigration(report).join("\n")}\n`,
      );
      if (report.refused > 0 && !dryRun) context.setExitCode(1);
    } finally {
      process.off("SIGINT", interrupt);
      await engine.close();
    }
  });
}

function describeMigration(report: MigrationReport): string[] {
  const verb = report.dryRun ? "would move" : "moved";
  const lines = [
    `${report.channel}/${report.behavior} version ${report.from} → ${report.to}${report.dryRun ? " (dry run: nothing moved)" : ""}`,
    `${verb} ${plural(report.moved, "instance")}${report.moves.length > 0 ? ":" : ""}`,
  ];
  const examples = (group: { count: number; examples: { id: string; businessKey: string }[] }) => {
    const more = group.count - group.examples.length;
    return `e.g. ${group.examples.map((e) => `${e.id} (${e.businessKey})`).join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
  };
  for (const move of report.moves) {
    const how = move.how === "continue" ? "goes on where it is" : "enters the step afresh";
    lines.push(`  ${move.fromStep} → ${move.toStep}: ${move.count}, ${how}; ${examples(move)}`);
  }
  if (report.refused > 0) {
    lines.push(
      `${report.dryRun ? "would refuse" : "refused"} ${plural(report.refused, "instance")}:`,
    );
    for (const refusal of report.refusals) {
      lines.push(
        `  at ${refusal.step}: ${refusal.count} (${refusal.reason}): ${refusal.message}; ${examples(refusal)}`,
      );
    }
  }
  if (report.interrupted) lines.push("interrupted: run the same command again to move the rest");
  return lines;
}

function addActor(command: Command): Command {
  return command
    .option("--who <name>", "who does this (recorded in the history as cli:<name>)")
    .option("--why <reason>", "why (recorded in the history)");
}

function listedStatuses(options: ListOptions): InstanceStatus[] | undefined {
  return options.status?.map((value) => {
    if (!statuses.includes(value as InstanceStatus)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `unknown status "${value}"; use one of ${statuses.join(", ")}`,
      );
    }
    return value as InstanceStatus;
  });
}

async function listInstances(db: CapflowDatabase, options: ListOptions, context: CliContext) {
  const status = listedStatuses(options);
  const limit = positiveInteger(options.limit, "--limit");
  const found = await db.instances.listInstances({
    ...(status ? { status } : {}),
    ...(options.channel ? { channel: options.channel } : {}),
    ...(options.behavior ? { behavior: options.behavior } : {}),
    ...(options.businessKey ? { businessKey: options.businessKey } : {}),
    ...(options.product ? { product: options.product } : {}),
    ...(options.olderThan ? { updatedBefore: Date.now() - parseDuration(options.olderThan) } : {}),
    limit,
  });
  printList(found, limit, options.json === true, context);
}

/**
 * The same list through the operator API of the `capflow serve` that holds the PGlite folder
 * (`--older-than` is its `idleFor`: not updated for that long).
 */
async function listThroughServer(server: LocalServer, options: ListOptions, context: CliContext) {
  const status = listedStatuses(options);
  const limit = positiveInteger(options.limit, "--limit");
  if (options.olderThan) parseDuration(options.olderThan as `${number}s`);
  const query = new URLSearchParams({ limit: String(limit) });
  if (status) query.set("status", status.join(","));
  if (options.channel) query.set("channel", options.channel);
  if (options.behavior) query.set("behavior", options.behavior);
  if (options.businessKey) query.set("businessKey", options.businessKey);
  if (options.product) query.set("product", options.product);
  if (options.olderThan) query.set("idleFor", options.olderThan);
  const page = await getFromLocalServer<ListPage<InstanceSummaryView>>(
    server,
    `/instances?${query}`,
  );
  printList(page.items.map(shownFromView), limit, options.json === true, context);
}

function printList(
  found: readonly ShownInstance[],
  limit: number,
  json: boolean,
  context: CliContext,
) {
  if (json) {
    for (const instance of found) context.out(`${JSON.stringify(summaryOf(instance))}\n`);
    return;
  }
  const rows = found.map((instance) => [
    instance.id,
    `${instance.channel}/${instance.behavior}`,
    instance.businessKey,
    instance.step,
    instance.status,
    instance.nextRunAt === null ? "-" : iso(instance.nextRunAt),
    iso(instance.updatedAt),
    instance.lastError?.code ?? "",
  ]);
  for (const line of textTable(
    ["id", "channel/behavior", "business key", "step", "status", "next run", "updated", "error"],
    rows,
  )) {
    context.out(`${line}\n`);
  }
  context.out(
    `${plural(found.length, "instance")}${found.length === limit ? ` (--limit ${limit})` : ""}\n`,
  );
}

async function showInstance(db: CapflowDatabase, id: string, json: boolean, context: CliContext) {
  const instance = await db.instances.getInstance(id);
  if (instance === undefined) {
    throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`, {
      context: { instance: id },
    });
  }
  const masking = await maskingFor(db, instance);
  // Refusals the instance holds show last, as the entry they become when it next moves.
  const pending = pendingRefusalEntry(instance);
  const history = [...(await db.instances.history(id)), ...(pending ? [pending] : [])];
  printInstance(instance, history, masking, json, context);
}

/** The same through the operator API of the `capflow serve` that holds the PGlite folder. */
async function showThroughServer(
  server: LocalServer,
  id: string,
  json: boolean,
  context: CliContext,
) {
  const { instance } = await getFromLocalServer<InstanceAnswer>(
    server,
    `/instances/${encodeURIComponent(id)}`,
  );
  // Masked by the server already; its history holds the pending refusals too.
  printInstance(
    shownFromView(instance),
    instance.history.map(entryFromView),
    undefined,
    json,
    context,
  );
}

/** An instance as `list` and `show` print it, read from the store or the operator API. */
type ShownInstance = Pick<
  InstanceRecord,
  | "id"
  | "channel"
  | "behavior"
  | "behaviorVersion"
  | "businessKey"
  | "step"
  | "status"
  | "attempt"
  | "version"
  | "nextRunAt"
  | "createdAt"
  | "updatedAt"
  | "lastError"
  | "product"
  | "account"
  | "failoverOf"
  | "routing"
  | "input"
  | "context"
> & { inFlight: unknown };

function shownFromView(view: InstanceSummaryView | InstanceDetailView): ShownInstance {
  const detail = "history" in view ? view : undefined;
  return {
    id: view.id,
    channel: view.channel,
    behavior: view.behavior,
    behaviorVersion: view.behaviorVersion,
    businessKey: view.businessKey,
    step: view.step,
    status: view.status as InstanceStatus,
    attempt: view.attempt,
    version: view.version,
    nextRunAt: view.nextRunAt === null ? null : Date.parse(view.nextRunAt),
    createdAt: Date.parse(view.createdAt),
    updatedAt: Date.parse(view.updatedAt),
    lastError: view.lastError,
    product: view.product,
    account: view.account,
    failoverOf: detail?.failoverOf ?? null,
    routing: detail?.routing ?? null,
    input: detail?.input ?? {},
    context: detail?.context ?? {},
    inFlight: detail?.inFlightCall ?? (view.inFlight ? {} : null),
  } as ShownInstance;
}

function entryFromView(view: HistoryEntryView): StepLogEntry {
  return {
    id: view.id,
    instanceId: "",
    version: view.version,
    step: view.step,
    attempt: view.attempt,
    event: view.event,
    startedAt: Date.parse(view.at),
    durationMs: view.durationMs,
    ...(view.outcome === null ? {} : { outcome: view.outcome }),
    ...(view.fromStep === null ? {} : { fromStep: view.fromStep }),
    ...(view.toStep === null ? {} : { toStep: view.toStep }),
    ...(view.fromStatus === null ? {} : { fromStatus: view.fromStatus }),
    ...(view.toStatus === null ? {} : { toStatus: view.toStatus }),
    ...(view.request === null ? {} : { request: view.request }),
    ...(view.response === null ? {} : { response: view.response }),
    ...(view.error === null ? {} : { error: view.error }),
    ...(view.actor === null ? {} : { actor: view.actor }),
    ...(view.refusals === null
      ? {}
      : { refusals: { count: view.refusals.count, reasons: view.refusals.reasons } }),
  } as StepLogEntry;
}

function printInstance(
  instance: ShownInstance,
  history: readonly StepLogEntry[],
  masking: MaskingRules | undefined,
  json: boolean,
  context: CliContext,
) {
  if (json) {
    context.out(
      `${JSON.stringify(
        {
          ...summaryOf(instance),
          input: maskFields(instance.input, masking),
          context: maskFields(instance.context, masking),
          // Messages kept as sent (encrypted, not masked) are read with `capflow raw show`.
          history: history.map(({ raw: _raw, ...entry }) => entry),
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  const fields: [string, string][] = [
    ["instance", instance.id],
    [
      "channel/behavior",
      `${instance.channel}/${instance.behavior} (version ${instance.behaviorVersion})`,
    ],
    ["business key", instance.businessKey],
    ["step", instance.step],
    ["status", instance.status],
    ["attempt", String(instance.attempt)],
    ["next run", instance.nextRunAt === null ? "-" : iso(instance.nextRunAt)],
    ["in flight", instance.inFlight ? JSON.stringify(instance.inFlight) : "-"],
    [
      "last error",
      instance.lastError ? `${instance.lastError.code}: ${instance.lastError.message}` : "-",
    ],
    ...routingFields(instance),
    ["created", iso(instance.createdAt)],
    ["updated", `${iso(instance.updatedAt)} (version ${instance.version})`],
    ["input", JSON.stringify(maskFields(instance.input, masking))],
    ["context", JSON.stringify(maskFields(instance.context, masking))],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  for (const [name, value] of fields) context.out(`${name.padEnd(width)}  ${value}\n`);
  context.out(`\nhistory (${history.length} ${history.length === 1 ? "entry" : "entries"}):\n`);
  for (const line of textTable(
    ["at", "step", "event", "outcome", "move", "status", "ms", "note"],
    history.map((entry) => historyRow(entry)),
  )) {
    context.out(`${line}\n`);
  }
}

/** Why a product's instance is on its channel: the rule, each candidate's state, its quotas. */
function routingFields(instance: ShownInstance): [string, string][] {
  const routing = instance.routing;
  if (routing === null) return instance.account ? [["account", instance.account]] : [];
  const fields: [string, string][] = [
    [
      "product",
      `${routing.product} (position ${routing.position}, amount ${routing.amount ?? "-"})`,
    ],
    ["routed by", routing.rule],
    [
      "candidates",
      routing.candidates
        .map((c) => `${c.channel} w${c.weight} ${c.state}${c.reason ? ` (${c.reason})` : ""}`)
        .join("; "),
    ],
  ];
  if (routing.account)
    fields.push([
      "account",
      `${routing.account.code} (${routing.account.rule}${(routing.account.skipped ?? [])
        .map((skipped) => `, passed over ${skipped.account}: ${skipped.reason}`)
        .join("")})`,
    ]);
  if (routing.failover)
    fields.push([
      "failover of",
      `${routing.failover.of} (tried ${routing.failover.tried.join(", ")})`,
    ]);
  if (routing.quotas.length > 0)
    fields.push([
      "quotas",
      routing.quotas
        .map((q) => `${q.scope} ${q.period} ${q.amount}${q.limitAmount ? `/${q.limitAmount}` : ""}`)
        .join("; "),
    ]);
  return fields;
}

interface WatchOptions {
  interval: string;
  timeout?: string;
  json?: boolean;
}

/**
 * One look at a watched instance: as it is now, its written history (appended, never changed),
 * and the run of refusals it holds that is not written yet.
 */
interface WatchedLook {
  instance: ShownInstance;
  history: StepLogEntry[];
  refused: StepLogEntry | undefined;
}

function lookInStore(db: CapflowDatabase, id: string): () => Promise<WatchedLook> {
  return async () => {
    const instance = await db.instances.getInstance(id);
    if (instance === undefined) {
      throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`, {
        context: { instance: id },
      });
    }
    const history = await db.instances.history(id);
    return { instance, history, refused: pendingRefusalEntry(instance) };
  };
}

/** Through the operator API of the `capflow serve` that holds the PGlite folder. */
function lookThroughServer(server: LocalServer, id: string): () => Promise<WatchedLook> {
  return async () => {
    const { instance } = await getFromLocalServer<InstanceAnswer>(
      server,
      `/instances/${encodeURIComponent(id)}`,
    );
    // The server lists the run of refusals not yet written after the history: kept apart, as
    // it changes until it is written.
    const ongoing = (entry: { refusals: { ongoing: boolean } | null }) =>
      entry.refusals?.ongoing === true;
    const refused = instance.history.find(ongoing);
    return {
      instance: shownFromView(instance),
      history: instance.history.filter((entry) => !ongoing(entry)).map(entryFromView),
      refused: refused && entryFromView(refused),
    };
  };
}

/**
 * Prints an instance's history entries as they appear, then how it settled. Looks every
 * `--interval` seconds (history entries are appended, never changed, so the new ones are those
 * past the count already printed).
 */
async function watchInstance(
  look: () => Promise<WatchedLook>,
  options: WatchOptions,
  context: CliContext,
) {
  const intervalMs = positiveInteger(options.interval, "--interval") * 1000;
  const timeoutMs =
    options.timeout === undefined
      ? undefined
      : positiveInteger(options.timeout, "--timeout") * 1000;
  const startedAt = Date.now();
  let printed = 0;
  for (;;) {
    const { instance, history, refused } = await look();
    if (printed === 0 && !options.json) {
      context.out(
        `${instance.channel}/${instance.behavior} ${instance.businessKey} (${instance.id})\n`,
      );
    }
    for (const entry of history.slice(printed)) {
      if (options.json) {
        const { raw: _raw, ...shown } = entry;
        context.out(`${JSON.stringify(shown)}\n`);
      } else {
        context.out(
          `${historyRow(entry)
            .filter((cell) => cell !== "")
            .join("  ")}\n`,
        );
      }
    }
    printed = history.length;
    if (isSettled(instance.status)) {
      context.out(
        options.json
          ? `${JSON.stringify(summaryOf(instance))}\n`
          : `settled: ${instance.status} at ${instance.step}\n`,
      );
      return;
    }
    if (timeoutMs !== undefined && Date.now() - startedAt >= timeoutMs) {
      // Refusals write no history entry until the instance moves: say why it has not.
      context.err(
        `still ${instance.status} at ${instance.step} after ${Math.round(timeoutMs / 1000)} s${instance.nextRunAt === null ? " (parked: nothing due)" : `, next run ${iso(instance.nextRunAt)}`}${refused ? `; ${refusalNote(refused)}` : ""}\n`,
      );
      context.setExitCode(1);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function historyRow(entry: StepLogEntry): string[] {
  const move =
    entry.toStep !== undefined && entry.toStep !== entry.fromStep
      ? `${entry.fromStep ?? entry.step} → ${entry.toStep}`
      : "";
  const status =
    entry.toStatus !== undefined && entry.toStatus !== entry.fromStatus
      ? `${entry.fromStatus ?? ""} → ${entry.toStatus}`
      : (entry.toStatus ?? "");
  const note = entry.actor
    ? `${entry.actor.who}: ${entry.actor.why}${entry.actor.confirmed === "callNotProcessed" ? " (confirmed the partner did not process the call)" : ""}`
    : entry.error
      ? `${entry.error.code}: ${entry.error.message}`
      : entry.refusals
        ? refusalNote(entry)
        : "";
  return [
    iso(entry.startedAt),
    entry.step,
    entry.event,
    entry.outcome ?? "",
    move,
    status,
    String(Math.round(entry.durationMs)),
    note.length > 100 ? `${note.slice(0, 99)}…` : note,
  ];
}

/** A summary of refusals: `refused 12 times until <time> (circuit-open 10, bulkhead 2)`. */
function refusalNote(entry: StepLogEntry): string {
  const { count, reasons } = entry.refusals!;
  const byReason = Object.entries(reasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  const times = count === 1 ? "once" : `${count} times`;
  return `refused ${times} until ${iso(entry.startedAt + entry.durationMs)} (${byReason})`;
}

/** The masking rules of the instance's channel and behavior version, merged. */
async function maskingFor(
  db: CapflowDatabase,
  instance: InstanceRecord,
): Promise<MaskingRules | undefined> {
  const [channel, behavior] = await Promise.all([
    db.definitions.getChannel(instance.channel),
    db.definitions.getBehavior(instance.channel, instance.behavior, instance.behaviorVersion),
  ]);
  const fields = {
    ...channel?.definition.masking?.fields,
    ...behavior?.definition.masking?.fields,
  };
  return Object.keys(fields).length === 0 ? undefined : { fields };
}

async function operate(
  options: ActorOptions,
  context: CliContext,
  action: (engine: Engine, actor: Actor) => Promise<InstanceRecord>,
) {
  if (!options.who || !options.why) {
    throw new CapflowError(
      "CONFIG_INVALID",
      "say who does this and why: --who <name> --why <reason> (both are recorded in the history)",
    );
  }
  const actor: Actor = { who: commandLineOperator(options.who), why: options.why };
  await withDatabase(options, context, async (db) => {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
    });
    try {
      const instance = await action(engine, actor);
      context.out(
        `${instance.id} ${instance.channel}/${instance.behavior} ${instance.businessKey}: now ${instance.status} at ${instance.step}${instance.nextRunAt === null ? "" : `, due ${iso(instance.nextRunAt)}`}\n`,
      );
    } finally {
      await engine.close();
    }
  });
}

function summaryOf(instance: ShownInstance) {
  return {
    id: instance.id,
    channel: instance.channel,
    behavior: instance.behavior,
    businessKey: instance.businessKey,
    step: instance.step,
    status: instance.status,
    attempt: instance.attempt,
    version: instance.version,
    nextRunAt: instance.nextRunAt === null ? null : iso(instance.nextRunAt),
    updatedAt: iso(instance.updatedAt),
    lastError: instance.lastError ?? null,
    ...(instance.product ? { product: instance.product } : {}),
    ...(instance.account ? { account: instance.account } : {}),
    ...(instance.failoverOf ? { failoverOf: instance.failoverOf } : {}),
    ...(instance.routing ? { routing: instance.routing } : {}),
  };
}
