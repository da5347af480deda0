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

/** Runs every check at once, each cut after `timeoutMs`. */
export async function checkReadiness(
  checks: ReadinessChecks,
  timeoutMs: number,
): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(checks[name]!, timeoutMs)));
  const report: ReadinessReport = { ready: results.every((r) => r.ok), checks: {} };
  names.forEach((name, i) => {
    report.checks[name] = results[i]!;
  });
  return report;
}

async function runCheck(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
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
    return { ok: false, reason: reasonOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** A short, log-safe reason: the code and message of capflow errors, the first line otherwise. */
function reasonOf(error: unknown): string {
  if (isCapflowError(error)) return `${error.code}: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!.slice(0, 200);
}
