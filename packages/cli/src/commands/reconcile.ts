import { resolve } from "node:path";
import { CapflowError, type HolidaySchedule } from "@capflow/core";
import {
  type DifferenceKind,
  type DifferenceRecord,
  describeCounts,
  differenceKinds,
  formatFen,
  loadStatementsOrThrow,
  ReconcileStore,
  type RunRecord,
  runReconciliation,
  type StatementDefinition,
  yesterdayIn,
} from "@capflow/reconcile";
import type { CapflowDatabase } from "@capflow/store-knex";
import { Option } from "commander";
import type { CliContext } from "../cli-context.ts";
import type { CapflowCommand } from "../command.ts";
import { commandLineOperator, whoOptionHelp } from "../command-line-operator.ts";
import {
  cryptoHandlersOptionHelp,
  type ExtensionOptions,
  loadExtensions,
  processorsOptionHelp,
} from "../extension-modules.ts";
import { holidaysOptionHelp, loadHolidaysOption } from "../holidays-option.ts";
import { plural } from "../plural.ts";
import { positiveInteger } from "../positive-integer.ts";
import { alertsOptionHelp, reconciliationAlertMonitor } from "../reconcile-alerts-option.ts";
import { statementEngine } from "../statement-engine.ts";
import { textTable } from "../text-table.ts";
import { addDatabaseOptions, type DatabaseOptions, withDatabase } from "./database-options.ts";

interface RunOptions extends DatabaseOptions, ExtensionOptions {
  definitions: string;
  channel: string;
  statement?: string;
  date?: string;
  file?: string;
  again?: boolean;
  alerts?: string;
  holidays?: string[];
  who?: string;
  json?: boolean;
}

interface ShowOptions extends DatabaseOptions {
  channel?: string;
  date?: string;
  kind?: string;
  unresolved?: boolean;
  limit: string;
  json?: boolean;
}

interface ResolveOptions extends DatabaseOptions {
  reason: string;
  who?: string;
  /** The older spelling of `--who`, still taken. */
  by?: string;
  alerts?: string;
  json?: boolean;
}

interface StopsOptions extends DatabaseOptions {
  all?: boolean;
  json?: boolean;
}

interface ResumeOptions extends DatabaseOptions {
  reason: string;
  who?: string;
  /** The older spelling of `--who`, still taken. */
  by?: string;
  json?: boolean;
}

/**
 * `capflow reconcile run|show|resolve|stops|resume`: match a funder's statement against the
 * instances of a business date, look at runs and their differences, mark a difference resolved
 * with a reason, and list or clear the statements the schedule stopped.
 */
export const reconcileCommand: CapflowCommand = {
  name: "reconcile",
  register(program, context) {
    const reconcile = program
      .command("reconcile")
      .description("funders' statements matched against instances (对账): run, show, resolve");

    addDatabaseOptions(
      reconcile
        .command("run")
        .description(
          "reconcile a channel's statement for a business date (the same file and definition again changes nothing, unless --again)",
        )
        .requiredOption("--channel <code>", "the channel whose statement to reconcile")
        .option("--statement <code>", "which statement of the channel (needed when it has several)")
        .option(
          "--date <yyyy-MM-dd>",
          "the business date, in the funder's time zone (default: yesterday there)",
        )
        .option("--file <path>", "read this file instead of fetching from the statement's source")
        .option(
          "--again",
          "reconcile anew a file already reconciled with this definition (after fixing our instances)",
        )
        .option("--definitions <dir>", "the folder with the *.statement.json files", "definitions")
        .option("--alerts <file>", alertsOptionHelp)
        .option("-p, --processors <module...>", processorsOptionHelp)
        .option("--crypto-handlers <module...>", cryptoHandlersOptionHelp)
        .option("--holidays <file...>", holidaysOptionHelp)
        .option("--who <name>", whoOptionHelp)
        .option("--json", "the run as one JSON object"),
    ).action(async (options: RunOptions) => {
      // Checked before anything opens: a mistyped file stops the command at once.
      const holidays = await loadHolidaysOption(options.holidays, context.cwd);
      await withDatabase(options, context, (db) => runCommand(db, options, holidays, context));
    });

    addDatabaseOptions(
      reconcile
        .command("show [run]")
        .description("recent runs, or one run with its differences")
        .option("--channel <code>", "only this channel's runs")
        .option("--date <yyyy-MM-dd>", "only runs of this business date")
        .option("--kind <kind>", `only differences of this kind (${differenceKinds.join(", ")})`)
        .option("--unresolved", "only differences not resolved yet")
        .option("--limit <n>", "at most this many runs or differences", "50")
        .option("--json", "one JSON object per line"),
    ).action((run: string | undefined, options: ShowOptions) =>
      withDatabase(options, context, (db) =>
        showCommand(new ReconcileStore(db), run, options, context),
      ),
    );

    addDatabaseOptions(
      reconcile
        .command("resolve <difference>")
        .description("mark a difference resolved, saying why (once; who and why are kept)")
        .requiredOption("--reason <text>", "why the difference needs nothing more")
        .option("--who <name>", whoOptionHelp)
        .addOption(olderWhoOption())
        .option(
          "--alerts <file>",
          "alert rules and sinks (JSON): resolves the run's alert once none of its differences is open",
        )
        .option("--json", "the difference as one JSON object"),
    ).action((difference: string, options: ResolveOptions) =>
      withDatabase(options, context, async (db) => {
        const resolved = await new ReconcileStore(db).resolveDifference({
          id: difference,
          operator: commandLineOperator(options.who ?? options.by),
          reason: options.reason,
          now: new Date(),
        });
        if (options.alerts !== undefined) {
          const alerts = await reconciliationAlertMonitor(db, options.alerts, context.cwd);
          await alerts.evaluate({ kinds: ["reconciliation"] });
        }
        if (options.json) context.out(`${JSON.stringify(resolved)}\n`);
        else
          context.out(
            `difference ${resolved.id} (${resolved.kind}) resolved by ${resolved.resolved?.by}: ${resolved.resolved?.reason}\n`,
          );
      }),
    );

    addDatabaseOptions(
      reconcile
        .command("stops")
        .description(
          "statements the schedule stopped (a refused host key, a definition that does not hold)",
        )
        .option("--all", "cleared stops too, with who cleared them and why")
        .option("--json", "one JSON object per line"),
    ).action((options: StopsOptions) =>
      withDatabase(options, context, async (db) => {
        const stops = await new ReconcileStore(db).listStops(
          options.all === true ? { all: true } : {},
        );
        if (options.json) {
          for (const stop of stops) context.out(`${JSON.stringify(stop)}\n`);
          return;
        }
        if (stops.length === 0) {
          context.out("no statement is stopped\n");
          return;
        }
        for (const stop of stops) {
          const cleared =
            stop.cleared === undefined
              ? "stopped"
              : `cleared ${stop.cleared.at} by ${stop.cleared.by}: ${stop.cleared.reason}`;
          context.out(
            `${stop.channel}/${stop.statement} ${stop.businessDate} since ${stop.stoppedAt}, ${cleared}\n  ${stop.error.code}: ${stop.error.message}\n`,
          );
        }
      }),
    );

    addDatabaseOptions(
      reconcile
        .command("resume <statement>")
        .description(
          "clear a stopped statement (channel/code), saying why: the schedule tries it again",
        )
        .requiredOption(
          "--reason <text>",
          "why it may be tried again (the host key checked with the funder)",
        )
        .option("--who <name>", whoOptionHelp)
        .addOption(olderWhoOption())
        .option("--json", "the cleared stops, one JSON object per line"),
    ).action((statement: string, options: ResumeOptions) =>
      withDatabase(options, context, async (db) => {
        const [channel, code, ...rest] = statement.split("/");
        if (channel === undefined || code === undefined || rest.length > 0 || !channel || !code) {
          throw new CapflowError(
            "CONFIG_INVALID",
            `${statement} is not a statement; write it as channel/code (capflow reconcile stops lists them)`,
          );
        }
        const cleared = await new ReconcileStore(db).clearStop({
          channel,
          statement: code,
          operator: commandLineOperator(options.who ?? options.by),
          reason: options.reason,
          now: new Date(),
        });
        for (const stop of cleared) {
          context.out(
            options.json
              ? `${JSON.stringify(stop)}\n`
              : `${stop.channel}/${stop.statement} resumed by ${stop.cleared?.by}: ${stop.cleared?.reason}; the schedule tries it at its next check\n`,
          );
        }
      }),
    );
  },
};

async function runCommand(
  db: CapflowDatabase,
  options: RunOptions,
  holidays: readonly HolidaySchedule[],
  context: CliContext,
): Promise<void> {
  const dir = resolve(context.cwd, options.definitions);
  const statement = pickStatement(await loadStatementsOrThrow(dir), options);
  const businessDate = options.date ?? yesterdayIn(statement.timeZone);
  // Through a channel's interface: the channel as defined next to the statement, its crypto
  // and its calendar, with the holiday schedules of --holidays.
  const engine =
    statement.source.kind === "interface" && options.file === undefined
      ? await statementEngine(
          dir,
          await loadExtensions(options, context.cwd),
          holidays,
          (message) => context.err(`warning: ${message}\n`),
        )
      : undefined;
  const result = await runReconciliation({
    ...(engine === undefined ? {} : { engine }),
    db,
    statement,
    businessDate,
    baseDir: dir,
    startedBy: commandLineOperator(options.who),
    ...(options.alerts === undefined
      ? {}
      : { alerts: await reconciliationAlertMonitor(db, options.alerts, context.cwd) }),
    ...(options.file === undefined ? {} : { file: resolve(context.cwd, options.file) }),
    ...(options.again === true ? { again: true } : {}),
  }).finally(() => engine?.close());
  if (options.json) {
    context.out(`${JSON.stringify({ ...result.run, reused: result.reused })}\n`);
    return;
  }
  const { run } = result;
  context.out(
    `${run.channel}/${run.statement} ${run.businessDate}: ${run.fileName} (${plural(run.lineCount ?? 0, "line")})${result.reused ? ", reconciled before: nothing changed (--again to run anew)" : run.attempt > 0 ? `, reconciled again (attempt ${run.attempt + 1})` : ""}\n`,
  );
  context.out(`  ${describeCounts(run)}\n`);
  if (run.comparison) {
    context.out(
      `  compared with run ${run.comparedWith}: ${run.comparison.new} new, ${run.comparison.repeated} repeated, ${run.comparison.gone} gone\n`,
    );
  }
  context.out(`  run ${run.id}; its differences: capflow reconcile show ${run.id}\n`);
  if (differenceTotal(run) > 0) context.setExitCode(1);
}

/** `--by`, what `--who` was called before: scripts that pass it keep working. */
function olderWhoOption(): Option {
  return new Option("--by <name>", "the same as --who").hideHelp();
}

function pickStatement(
  statements: StatementDefinition[],
  options: RunOptions,
): StatementDefinition {
  const ofChannel = statements.filter((s) => s.channel === options.channel);
  const chosen =
    options.statement === undefined
      ? ofChannel
      : ofChannel.filter((s) => s.code === options.statement);
  if (chosen.length === 1) return chosen[0]!;
  throw new CapflowError(
    "STATEMENT_INVALID",
    chosen.length === 0
      ? `no statement${options.statement === undefined ? "" : ` ${options.statement}`} for channel ${options.channel} in ${options.definitions} (found: ${statements.map((s) => `${s.channel}/${s.code}`).join(", ") || "none"})`
      : `channel ${options.channel} has several statements (${ofChannel.map((s) => s.code).join(", ")}); pick one with --statement`,
  );
}

function differenceTotal(run: RunRecord): number {
  return Object.entries(run.counts ?? {}).reduce(
    (sum, [kind, n]) => (kind === "matched" ? sum : sum + n),
    0,
  );
}

async function showCommand(
  store: ReconcileStore,
  runId: string | undefined,
  options: ShowOptions,
  context: CliContext,
): Promise<void> {
  const limit = positiveInteger(options.limit, "--limit");
  if (runId === undefined) {
    const runs = await store.listRuns({
      ...(options.channel === undefined ? {} : { channel: options.channel }),
      ...(options.date === undefined ? {} : { businessDate: options.date }),
      limit,
    });
    if (options.json) {
      for (const run of runs) context.out(`${JSON.stringify(run)}\n`);
      return;
    }
    const rows = runs.map((run) => [
      run.id,
      `${run.channel}/${run.statement}`,
      run.businessDate,
      run.state,
      String(run.lineCount ?? "-"),
      run.state === "failed" ? (run.error?.message ?? "") : describeCounts(run),
    ]);
    for (const line of textTable(["run", "statement", "date", "state", "lines", "result"], rows)) {
      context.out(`${line}\n`);
    }
    context.out(`${plural(runs.length, "run")}\n`);
    return;
  }
  if (
    options.kind !== undefined &&
    !(differenceKinds as readonly string[]).includes(options.kind)
  ) {
    throw new CapflowError("CONFIG_INVALID", `--kind must be one of ${differenceKinds.join(", ")}`);
  }
  const run = await store.getRun(runId);
  const differences = await store.listDifferences(run.id, {
    ...(options.kind === undefined ? {} : { kind: options.kind as DifferenceKind }),
    ...(options.unresolved ? { unresolved: true } : {}),
    limit,
  });
  if (options.json) {
    context.out(`${JSON.stringify({ run })}\n`);
    for (const difference of differences) context.out(`${JSON.stringify({ difference })}\n`);
    return;
  }
  context.out(
    `run ${run.id}: ${run.channel}/${run.statement} ${run.businessDate}, ${run.fileName} (sha256 ${run.fileDigest.slice(0, 16)}…), ${run.state}\n`,
  );
  context.out(`  ${describeCounts(run)}\n`);
  if (run.totals) {
    const { declared, lines } = run.totals;
    context.out(
      `  totals: file says ${declared.count ?? "-"} lines, ${formatFen(declared.amount)}; lines add up to ${lines.count}, ${formatFen(lines.amount)}\n`,
    );
  }
  const rows = differences.map((d) => [
    d.id,
    d.kind,
    d.businessKey ?? d.partnerReference ?? "",
    funderCell(d),
    oursCell(d),
    d.resolved
      ? `resolved by ${d.resolved.by}: ${d.resolved.reason}`
      : d.seenBefore
        ? "open (also before)"
        : "open",
  ]);
  for (const line of textTable(["id", "kind", "key", "funder", "ours", "state"], rows)) {
    context.out(`${line}\n`);
  }
  context.out(
    `${plural(differences.length, "difference")}${differences.length === limit ? ` (--limit ${limit})` : ""}\n`,
  );
}

function funderCell(d: DifferenceRecord): string {
  const f = d.funder as Record<string, string | number | undefined> | undefined;
  if (f === undefined) return "-";
  if (d.kind === "totals-mismatch") {
    const declared = f.declared as unknown as { count?: number; amount?: string };
    return `${declared.count ?? "-"} lines, ${formatFen(declared.amount)}`;
  }
  if (f.problem !== undefined) return `line ${f.lineNo}: ${f.problem}`;
  return `line ${f.lineNo}: ${formatFen(f.amount as string | undefined)} ${f.status ?? ""}`.trim();
}

function oursCell(d: DifferenceRecord): string {
  const o = d.ours as Record<string, string | undefined> | undefined;
  if (o === undefined) return "-";
  if (d.kind === "totals-mismatch") {
    const lines = o.lines as unknown as { count: number; amount: string };
    return `${lines.count} lines, ${formatFen(lines.amount)}`;
  }
  return `${o.behavior} ${formatFen(o.amount)} ${o.status}`;
}
