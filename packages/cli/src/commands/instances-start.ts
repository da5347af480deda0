import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  CapflowError,
  createEngine,
  type HolidaySchedule,
  type InstanceRecord,
  type InstanceStatus,
  ProcessorRegistry,
  type RoutingRecord,
  registerBuiltinProcessors,
  type StartRequest,
  settledStatuses,
} from "@capflow/core";
import type {
  ErrorBody,
  InstanceSummaryView,
  ListPage,
  StartedInstanceAnswer,
} from "@capflow/server";
import type { Command } from "commander";
import type { CliContext } from "../cli-context.ts";
import { commandLineOperator } from "../command-line-operator.ts";
import { holidaysOptionHelp, loadHolidaysOption, processCalendar } from "../holidays-option.ts";
import { positiveInteger } from "../positive-integer.ts";
import { iso } from "../text-table.ts";
import {
  addDatabaseOptions,
  type DatabaseOptions,
  defaultPgliteDir,
  withDatabase,
} from "./database-options.ts";
import { findLocalServer, type LocalServer } from "./local-server.ts";
import { serverAnswerError } from "./server-answer-error.ts";

interface StartOptions extends DatabaseOptions {
  channel?: string;
  behavior?: string;
  product?: string;
  key: string;
  input: string;
  wait?: string;
  holidays?: string[];
  reason?: string;
  who?: string;
  json?: boolean;
}

/** The fields of an instance `instances start` prints, read directly or through the operator API. */
interface Started {
  id: string;
  channel: string;
  behavior: string;
  businessKey: string;
  step: string;
  status: string;
  version: number;
  nextRunAt: string | null;
  /** What parked it (active, not due) or why it failed. */
  lastError: { code: string; message: string } | null;
  /** A product's start: the product, the account, and why this channel (the routing record). */
  product?: string;
  account?: string;
  routing?: RoutingRecord;
}

/**
 * `capflow instances start`: starts a behavior for a business record (input as JSON, or `@file`),
 * or shows the instance already started for it. Against a PGlite folder that a `capflow serve`
 * holds, it goes through that server's operator API (one process owns a PGlite folder), which
 * records who started it and why: `--reason` is then required. Given directly, the reason is
 * recorded with `--who` or this machine's user name, as `cli:<name>`. A
 * product's start passes over channels whose calendar is closed: `--holidays` gives that calendar
 * the same schedules as the worker's (through a server, the server's own judge).
 */
export function registerStartInstance(instances: Command, context: CliContext): void {
  addDatabaseOptions(
    instances
      .command("start")
      .description("start a behavior for a business record (the same key never starts twice)")
      .option("--channel <code>", "the channel (with --behavior)")
      .option("--behavior <code>", "the behavior to start on the channel")
      .option("--product <code>", "or a product: routing chooses the channel")
      .requiredOption("--key <business-key>", "the business record's key, e.g. a loan number")
      .requiredOption("--input <json|@file>", "the input: JSON text, or @ and a JSON file's path")
      .option(
        "--wait <seconds>",
        "then wait this long for it to settle, printing where it ends; stops early when it is parked (exit 1 with its error) and exits 1 if it has not settled in time",
      )
      .option("--holidays <file...>", holidaysOptionHelp)
      .option(
        "--reason <text>",
        "why you start it by hand, recorded in its history (required while a capflow serve holds the PGlite folder)",
      )
      .option(
        "--who <name>",
        "who starts it, recorded with --reason as cli:<name> (needs --reason; default: this machine's user name); through a capflow serve, its token's name is recorded instead",
      )
      .option("--json", "the instance as JSON"),
  ).action((options: StartOptions) => startInstanceCommand(options, context));
}

async function startInstanceCommand(options: StartOptions, context: CliContext) {
  const request: StartRequest = {
    ...target(options),
    businessKey: options.key,
    input: await readInput(options.input, context),
  };
  const waitMs = options.wait === undefined ? 0 : positiveInteger(options.wait, "--wait") * 1000;
  // Checked before anything opens: a mistyped file stops the command at once.
  const holidays = await loadHolidaysOption(options.holidays, context.cwd);
  const local = await localServerFor(options, context);
  if (local && holidays.length > 0) {
    context.err(
      `note: --holidays is not used: the capflow serve at ${local.url} starts the instance, with the holiday schedules of its own --holidays\n`,
    );
  }
  let started = local
    ? await startThroughServer(local, { ...request, reason: reasonForServer(options, local) })
    : await startDirectly(options, context, withActor(request, options), holidays);
  let after = "";
  if (waitMs > 0) {
    const first = started;
    const read = local
      ? () => readThroughServer(local, first)
      : () => readDirectly(options, context, first.id);
    started = await waitUntilSettled(started, read, waitMs);
    const see = `; see capflow instances show ${started.id}`;
    if (isParked(started)) {
      after = `${started.lastError ? ` with ${started.lastError.code}: ${started.lastError.message}` : ""}${see}`;
      context.setExitCode(1);
    } else if (!settledStatuses.includes(started.status as InstanceStatus)) {
      after = `; not settled after ${waitMs / 1000} s${see}`;
      context.setExitCode(1);
    } else if (started.status === "failed" && started.lastError) {
      after = `: ${started.lastError.code}: ${started.lastError.message}${see}`;
    }
  }
  if (options.json) {
    context.out(`${JSON.stringify(started)}\n`);
    return;
  }
  const routed = started.routing
    ? ` (product ${started.routing.product}, routed by ${started.routing.rule}${started.account ? `, account ${started.account}` : ""})`
    : "";
  context.out(
    `${started.id} ${started.channel}/${started.behavior} ${started.businessKey}: ${isParked(started) ? "parked" : started.status} at ${started.step}${started.nextRunAt === null ? "" : `, due ${started.nextRunAt}`}${routed}${after}\n`,
  );
}

function target(
  options: StartOptions,
): { channel: string; behavior: string } | { product: string } {
  if (
    options.product !== undefined &&
    options.channel === undefined &&
    options.behavior === undefined
  ) {
    return { product: options.product };
  }
  if (
    options.product === undefined &&
    options.channel !== undefined &&
    options.behavior !== undefined
  ) {
    return { channel: options.channel, behavior: options.behavior };
  }
  throw new CapflowError(
    "CONFIG_INVALID",
    "say what to start: --channel <code> --behavior <code>, or --product <code>",
  );
}

async function readInput(value: string, context: CliContext): Promise<Record<string, unknown>> {
  const fromFile = value.startsWith("@");
  let text = value;
  if (fromFile) {
    const path = resolve(context.cwd, value.slice(1));
    try {
      text = await readFile(path, "utf8");
    } catch {
      throw new CapflowError("CONFIG_INVALID", `--input: cannot read ${path}`);
    }
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    throw new CapflowError(
      "CONFIG_INVALID",
      `--input takes a JSON object${fromFile ? ` (the file ${value.slice(1)} is not valid JSON)` : `, e.g. '{"amount":"100.00"}', or @file.json`}`,
    );
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new CapflowError(
      "CONFIG_INVALID",
      '--input must be a JSON object, e.g. {"amount":"100.00"}',
    );
  }
  return input as Record<string, unknown>;
}

/**
 * The operator API records the reason with its operator (the server's local token), and refuses a
 * start without one. It cannot record `--who`, so that is refused rather than dropped.
 */
function reasonForServer(options: StartOptions, server: LocalServer): string {
  if (options.who !== undefined) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `the capflow serve at ${server.url} holds this database and records its own token's name as who started the instance: leave out --who`,
    );
  }
  if (options.reason !== undefined && options.reason.trim() !== "") return options.reason;
  throw new CapflowError(
    "CONFIG_INVALID",
    `the capflow serve at ${server.url} holds this database and records why each instance is started by hand: add --reason <text>`,
  );
}

/**
 * Started directly on the database: the reason, if given, is recorded with who started it. `--who`
 * is recorded only with a reason, so without one it is refused rather than dropped (as through a
 * server).
 */
function withActor(request: StartRequest, options: StartOptions): StartRequest {
  if (options.reason === undefined) {
    if (options.who === undefined) return request;
    throw new CapflowError(
      "CONFIG_INVALID",
      "--who is recorded with the reason an instance is started by hand: add --reason <text>, or leave out --who",
    );
  }
  return { ...request, actor: { who: commandLineOperator(options.who), why: options.reason } };
}

/** A `capflow serve` holding the PGlite folder this command would open, if any. */
async function localServerFor(
  options: StartOptions,
  context: CliContext,
): Promise<LocalServer | undefined> {
  const databaseUrl =
    options.databaseUrl ?? (options.pglite === undefined ? process.env.DATABASE_URL : undefined);
  if (databaseUrl) return undefined;
  return findLocalServer(resolve(context.cwd, options.pglite ?? defaultPgliteDir));
}

async function startThroughServer(
  server: LocalServer,
  request: StartRequest & { reason: string },
): Promise<Started> {
  let answer: Response;
  try {
    answer = await fetch(`${server.url}/v1/ops/instances`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify(request),
    });
  } catch {
    throw new CapflowError(
      "STORE_UNAVAILABLE",
      `capflow serve holds the database and does not answer at ${server.url}; is it still starting?`,
    );
  }
  const body = (await answer.json().catch(() => ({}))) as Partial<
    StartedInstanceAnswer & ErrorBody
  >;
  if (!answer.ok || body.instance === undefined) throw serverAnswerError(answer.status, body);
  return pick(body.instance);
}

/** The start's answer carries the routing record; the search's summary does not (the start's is kept). */
function pick(instance: StartedInstanceAnswer["instance"] | InstanceSummaryView): Started {
  const { id, channel, behavior, businessKey, step, status, version, nextRunAt } = instance;
  return {
    ...{ id, channel, behavior, businessKey, step, status, version, nextRunAt },
    lastError: instance.lastError ?? null,
    ...(instance.product ? { product: instance.product } : {}),
    ...(instance.account ? { account: instance.account } : {}),
    ...("routing" in instance && instance.routing ? { routing: instance.routing } : {}),
  };
}

/**
 * Parked: active but due never, with the error that stopped it (a template that does not render,
 * an answer no route takes, retries used up, a key that does not load). Nothing moves it but an
 * operator, so there is nothing to wait for.
 */
function isParked(instance: Started): boolean {
  return instance.status === "active" && instance.nextRunAt === null && instance.lastError !== null;
}

/** Reads the instance every half second until it settles, is parked, or `waitMs` passes. */
async function waitUntilSettled(
  first: Started,
  read: () => Promise<Started>,
  waitMs: number,
): Promise<Started> {
  const deadline = Date.now() + waitMs;
  let current = first;
  while (
    !settledStatuses.includes(current.status as InstanceStatus) &&
    !isParked(current) &&
    Date.now() < deadline
  ) {
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 500));
    current = await read();
  }
  return current;
}

/**
 * The instance's summary through the operator API's search (one instance per channel, behavior
 * and business key), not `GET /instances/:id`, which also reads and masks its whole history.
 */
async function readThroughServer(server: LocalServer, first: Started): Promise<Started> {
  const query = new URLSearchParams({
    channel: first.channel,
    behavior: first.behavior,
    businessKey: first.businessKey,
    limit: "1",
  });
  const answer = await fetch(`${server.url}/v1/ops/instances?${query}`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const body = (await answer.json()) as Partial<ListPage<InstanceSummaryView>>;
  const found = body.items?.find((item) => item.id === first.id);
  if (found === undefined) throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${first.id}`);
  return { ...pick(found), ...(first.routing ? { routing: first.routing } : {}) };
}

async function readDirectly(options: StartOptions, context: CliContext, id: string) {
  return withDatabase(options, context, async (db) => {
    const instance = await db.instances.getInstance(id);
    if (instance === undefined) throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}`);
    return started(instance);
  });
}

async function startDirectly(
  options: StartOptions,
  context: CliContext,
  request: StartRequest,
  holidays: readonly HolidaySchedule[],
): Promise<Started> {
  return withDatabase(options, context, async (db) => {
    const engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: registerBuiltinProcessors(new ProcessorRegistry()),
      // A product's routing passes over channels closed now, judged as the worker judges.
      calendar: processCalendar(db.definitions, holidays, (message) =>
        context.err(`warning: ${message}\n`),
      ),
    });
    try {
      return started(await engine.start(request));
    } finally {
      await engine.close();
    }
  });
}

function started(instance: InstanceRecord): Started {
  return {
    id: instance.id,
    channel: instance.channel,
    behavior: instance.behavior,
    businessKey: instance.businessKey,
    step: instance.step,
    status: instance.status,
    version: instance.version,
    nextRunAt: instance.nextRunAt === null ? null : iso(instance.nextRunAt),
    lastError: instance.lastError,
    ...(instance.product ? { product: instance.product } : {}),
    ...(instance.account ? { account: instance.account } : {}),
    ...(instance.routing ? { routing: instance.routing } : {}),
  };
}
