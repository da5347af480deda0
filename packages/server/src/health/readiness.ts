import { isCapflowError } from "@capflow/core";

/**
 * What `/readyz` checks, by name: each function resolves when its dependency answers. The CLI
 * checks `database` (a `SELECT 1`) and, when Redis is configured, `redis` (a `PING`).
 */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

/** One check's result: `ok`, or why not. */
export type CheckResult = { ok: true } | { ok: false; reason: string };

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

/**
 * Runs every check at once, each cut after `timeoutMs`. A failing check's reason says how it failed
 * (a code, a timeout), never the host, port or folder its error names: `/readyz` answers whoever
 * asks. `onFailure` gets each failure's whole error, for the log.
 */
export async function checkReadiness(
  checks: ReadinessChecks,
  timeoutMs: number,
  onFailure: (name: string, error: unknown) => void = () => {},
): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map((name) => runCheck(checks[name]!, timeoutMs, (error) => onFailure(name, error))),
  );
  const report: ReadinessReport = { ready: results.every((r) => r.ok), checks: {} };
  names.forEach((name, i) => {
    report.checks[name] = results[i]!;
  });
  return report;
}

async function runCheck(
  check: () => Promise<unknown>,
  timeoutMs: number,
  onFailure: (error: unknown) => void,
): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([check().then((): CheckResult => ({ ok: true })), timeout]);
  } catch (error: unknown) {
    onFailure(error);
    return { ok: false, reason: reasonOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How a check failed, without what its message names (a host and port, a folder): the capflow code
 * or the system error code (`ECONNREFUSED`, `ENOTFOUND`) when there is one.
 */
function reasonOf(error: unknown): string {
  const code = isCapflowError(error) ? error.code : systemCodeOf(error);
  return `${code === undefined ? "failed" : `failed (${code})`}; the server's log has the cause`;
}

function systemCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9][A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}
