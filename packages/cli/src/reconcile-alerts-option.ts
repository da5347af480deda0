import { dirname, resolve } from "node:path";
import {
  AlertMonitor,
  type AlertsConfig,
  CapflowError,
  createDefaultSecretResolver,
  systemClock,
} from "@capflow/core";
import { readJsonFile } from "@capflow/core/internal";
import { reconciliationAlerts } from "@capflow/reconcile";
import { type CapflowDatabase, KnexAlertStore } from "@capflow/store-knex";

export const alertsOptionHelp =
  "alert rules and sinks (JSON, as in docs/protection.md): its `reconciliation` rules are evaluated after each run, so differences reach the sinks at once";

const ruleKinds = new Set([
  "failure-rate",
  "limiter-saturated",
  "callbacks-refused",
  "breaker-open",
  "stuck",
  "certificate-expiry",
  "outbox-failing",
  "reconciliation",
  "raised",
]);
const sinkKinds = new Set(["webhook", "dingtalk", "wecom", "feishu"]);

/**
 * The alert monitor for reconciliation runs, from `--alerts <file>`: the file's rules and sinks,
 * alerts in the database (one open per rule and subject, whichever node runs), sinks' `file:`
 * secrets relative to the file. Only `reconciliation` rules are evaluated through it.
 */
export async function reconciliationAlertMonitor(
  db: Pick<CapflowDatabase, "knex" | "schema" | "target">,
  file: string,
  cwd: string,
): Promise<AlertMonitor> {
  const { config, path } = await loadAlertsConfig(file, cwd);
  if (!config.rules.some((rule) => rule.kind === "reconciliation")) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `${path}: no rule has kind "reconciliation": add one for statements' differences (see docs/protection.md, "Alerts")`,
    );
  }
  return new AlertMonitor({
    config,
    store: new KnexAlertStore(db),
    clock: systemClock,
    secrets: createDefaultSecretResolver({ baseDir: dirname(path) }),
    reconciliation: reconciliationAlerts(db),
  });
}

/** An alerts file (`--alerts <file>`) read and checked, with its absolute path. */
export async function loadAlertsConfig(
  file: string,
  cwd: string,
): Promise<{ config: AlertsConfig; path: string }> {
  const path = resolve(cwd, file);
  return { config: parseAlertsConfig(await readJsonFile(path, "alerts file"), path), path };
}

/** The shape checks a mistyped file would otherwise fail on later, at the first alert. */
function parseAlertsConfig(value: unknown, path: string): AlertsConfig {
  const fail = (what: string): never => {
    throw new CapflowError("CONFIG_INVALID", `${path}: ${what} (see docs/protection.md, "Alerts")`);
  };
  const config = value as Partial<AlertsConfig> | null;
  if (typeof config !== "object" || config === null) fail("write an object with rules and sinks");
  if (!Array.isArray(config?.rules)) fail("`rules` must be a list of alert rules");
  if (!Array.isArray(config?.sinks)) fail("`sinks` must be a list of alert sinks");
  const { rules, sinks } = config as AlertsConfig;
  const sinkNames = new Set<string>();
  sinks.forEach((sink, i) => {
    if (typeof sink?.name !== "string" || sink.name === "") fail(`sinks/${i} needs a name`);
    if (!sinkKinds.has(sink.kind)) {
      fail(`sinks/${i} kind must be one of ${[...sinkKinds].join(", ")}`);
    }
    if (typeof sink.url !== "string" || !/^https?:\/\//.test(sink.url)) {
      fail(`sinks/${i} url must be an http(s) URL`);
    }
    if (sink.kind === "webhook" && sink.secret === undefined) {
      fail(`sinks/${i} is a webhook: give it a secret (env:NAME or file:path) to sign with`);
    }
    sinkNames.add(sink.name);
  });
  rules.forEach((rule, i) => {
    if (typeof rule?.name !== "string" || rule.name === "") fail(`rules/${i} needs a name`);
    if (!ruleKinds.has(rule.kind)) {
      fail(`rules/${i} kind must be one of ${[...ruleKinds].join(", ")}`);
    }
    for (const name of rule.sinks ?? []) {
      if (!sinkNames.has(name)) fail(`rules/${i} sends to ${name}, which no sink is named`);
    }
  });
  return config as AlertsConfig;
}
