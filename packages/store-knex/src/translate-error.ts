import { CapflowError, type ErrorCode, type ErrorContext } from "@capflow/core";

/**
 * Turns whatever the driver threw (pg, PGlite, knex's pool, Node's sockets) into a `CapflowError`
 * with a code the engine acts on and `retryable` set, and a message that says what to do.
 *
 * Messages never include the driver's text for data errors: PostgreSQL quotes values in some
 * messages and knex prefixes the SQL. The driver error stays available as `cause` (which
 * `CapflowError.toJSON` leaves out of logs).
 */
export function translateStoreError(error: unknown, where: StoreErrorWhere = {}): CapflowError {
  if (error instanceof CapflowError) return error;
  const target = where.target ?? "the database";
  const context: ErrorContext = { ...where.context };
  const fail = (code: ErrorCode, message: string, retryable: boolean, extra: ErrorContext = {}) =>
    new CapflowError(code, message, {
      cause: error,
      retryable,
      context: { ...context, ...extra },
    });

  const netCode = networkCodeOf(error);
  const sqlState = netCode === undefined ? sqlStateOf(error) : undefined;
  if (sqlState !== undefined) {
    const details = databaseDetails(error, sqlState);
    switch (sqlState) {
      case "23505":
        return fail(
          "STORE_UNIQUE_VIOLATION",
          `a row with the same key already exists (constraint ${details.constraint ?? "unknown"})`,
          false,
          details,
        );
      case "CF409":
        return fail(
          "STORE_CONFLICT",
          "an inbox entry this commit applies was applied to another instance first; nothing was written, and the instance reads the inbox again on its next run",
          false,
          details,
        );
      case "CF429": {
        const quota = quotaOf(error);
        return fail(
          "QUOTA_EXHAUSTED",
          `quota ${quota.scope ?? "?"} has no room in ${quota.period ?? "?"}; nothing was written`,
          false,
          { ...details, ...quota },
        );
      }
      case "40001":
        return fail(
          "STORE_SERIALIZATION_FAILURE",
          "the transaction conflicted with a concurrent one and was rolled back; retry it",
          true,
          details,
        );
      case "40P01":
        return fail(
          "STORE_DEADLOCK",
          "the transaction was chosen as a deadlock victim and rolled back; retry it",
          true,
          details,
        );
      case "57014":
        return fail(
          "STORE_TIMEOUT",
          `a statement ran longer than statement_timeout on ${target} and was cancelled (nothing was written); retry, and if it keeps happening look for lock waits or raise statementTimeoutMs`,
          true,
          details,
        );
      case "55P03":
        return fail(
          "STORE_TIMEOUT",
          `a row or table lock was not granted within lock_timeout on ${target}; retry`,
          true,
          details,
        );
      case "57P01":
      case "57P02":
      case "25P03":
        return fail(
          "STORE_CONNECTION_LOST",
          `${target} closed the connection (${sqlState === "57P02" ? "crash shutdown" : sqlState === "25P03" ? "idle in transaction too long" : "terminated by an administrator or shutting down"}); retry on a new connection`,
          true,
          details,
        );
      case "57P03":
        return fail(
          "STORE_UNAVAILABLE",
          `${target} is starting up or shutting down and accepts no connections yet; retry shortly`,
          true,
          details,
        );
      case "28P01":
      case "28000":
        return fail(
          "STORE_UNAVAILABLE",
          `${target} refused the login: check the user and password in DATABASE_URL (or --database-url)`,
          false,
          details,
        );
      case "3D000":
        return fail(
          "STORE_UNAVAILABLE",
          `the database named in the connection string does not exist on ${target}: create it, or fix DATABASE_URL`,
          false,
          details,
        );
      case "42P01":
      case "3F000":
      case "42883":
        return fail(
          "STORE_FAILED",
          `capflow's tables are missing or out of date in ${target}: run \`capflow migrate\` (or \`db.migrate()\`) with the same schema`,
          false,
          details,
        );
      case "P0001":
        // Raised by capflow's own triggers; their message is written for the user.
        return fail("STORE_FAILED", ownMessageOf(error), false, details);
    }
    if (sqlState.startsWith("08")) {
      const refused = sqlState === "08001" || sqlState === "08004";
      return fail(
        refused ? "STORE_UNAVAILABLE" : "STORE_CONNECTION_LOST",
        refused
          ? `cannot connect to ${target} (SQLSTATE ${sqlState}): is it running and accepting connections? check DATABASE_URL`
          : `lost the connection to ${target} (SQLSTATE ${sqlState}); retry on a new connection`,
        true,
        details,
      );
    }
    if (sqlState.startsWith("53")) {
      return fail(
        "STORE_UNAVAILABLE",
        `${target} is out of resources (SQLSTATE ${sqlState}${sqlState === "53300" ? ": too many connections; lower the pool size or raise max_connections" : ""}); retry later`,
        true,
        details,
      );
    }
    return fail(
      "STORE_FAILED",
      `${target} rejected a statement (SQLSTATE ${sqlState}${details.table ? ` on table ${details.table}` : ""}); this is a bug or a schema mismatch, not a transient fault: see the cause`,
      false,
      details,
    );
  }

  switch (netCode) {
    case "ECONNREFUSED":
      return fail(
        "STORE_UNAVAILABLE",
        `cannot reach ${target}: connection refused; is it running? check DATABASE_URL`,
        true,
        { errno: netCode },
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return fail(
        "STORE_UNAVAILABLE",
        `cannot resolve the host of ${target}; check the host name in DATABASE_URL`,
        netCode === "EAI_AGAIN",
        { errno: netCode },
      );
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return fail(
        "STORE_UNAVAILABLE",
        `no route or no answer from ${target} (${netCode}); check the network, the firewall and DATABASE_URL`,
        true,
        { errno: netCode },
      );
    case "ECONNRESET":
    case "EPIPE":
      return fail(
        "STORE_CONNECTION_LOST",
        `lost the connection to ${target} (${netCode}); retry on a new connection`,
        true,
        { errno: netCode },
      );
  }

  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : "";
  if (name === "KnexTimeoutError" || message.includes("Timeout acquiring a connection")) {
    return fail(
      "STORE_UNAVAILABLE",
      `no free connection to ${target} within the acquire timeout: the pool is exhausted; raise pool.max, lower worker concurrency, or look for long transactions`,
      true,
    );
  }
  if (
    /Connection terminated|connection error and is not queryable|Client was closed and is not queryable/i.test(
      message,
    )
  ) {
    return fail(
      "STORE_CONNECTION_LOST",
      `lost the connection to ${target}; retry on a new connection`,
      true,
    );
  }
  if (/Query read timeout/i.test(message)) {
    return fail(
      "STORE_TIMEOUT",
      `no answer from ${target} within the query timeout; the statement may or may not have run`,
      true,
    );
  }
  if (/PGlite is closed|Unable to acquire a connection/i.test(message)) {
    return fail(
      "STORE_UNAVAILABLE",
      `${target} is closed: open the store again (the database handle was closed or destroyed)`,
      false,
    );
  }
  return fail(
    "STORE_FAILED",
    `unexpected error from ${target}${name ? ` (${name})` : ""}: see the cause`,
    false,
  );
}

export interface StoreErrorWhere {
  /** How to name the database in messages, e.g. `PostgreSQL at db.internal:5432` (no password). */
  target?: string;
  context?: ErrorContext;
}

function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

const networkCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "EPIPE",
]);

/** Node socket error codes, also inside the AggregateError Node 20 raises for dual-stack hosts. */
function networkCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && networkCodes.has(code)) return code;
  const inner = (error as { errors?: unknown } | null)?.errors;
  if (Array.isArray(inner)) {
    for (const e of inner) {
      const c = networkCodeOf(e);
      if (c !== undefined) return c;
    }
  }
  return undefined;
}

/** Names (never values) the database reported: safe to log. */
function databaseDetails(error: unknown, sqlState: string): ErrorContext {
  const e = error as Record<string, unknown>;
  const details: ErrorContext = { sqlState };
  for (const key of ["constraint", "table", "column", "schema"] as const) {
    if (typeof e[key] === "string") details[key] = e[key];
  }
  return details;
}

/** The quota named by `quota_apply`'s refusal (its DETAIL is JSON: scope and period). */
function quotaOf(error: unknown): { scope?: string; period?: string } {
  const detail = (error as Record<string, unknown>).detail;
  try {
    const parsed =
      typeof detail === "string" ? (JSON.parse(detail) as Record<string, unknown>) : {};
    return {
      ...(typeof parsed.scope === "string" ? { scope: parsed.scope } : {}),
      ...(typeof parsed.period === "string" ? { period: parsed.period } : {}),
    };
  } catch {
    return {};
  }
}

/** The message of an exception raised by capflow's own SQL, without knex's SQL prefix. */
function ownMessageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const marker = " - ";
  const at = message.lastIndexOf(marker);
  return at === -1 ? message : message.slice(at + marker.length);
}

/**
 * Failures after which the statement may have committed on the server: the connection broke or
 * went silent while it ran (a TCP timeout or a lost route on an established connection reads as
 * "unavailable"). The commit is re-read before anyone decides it did not happen.
 */
export function mayHaveCommitted(error: CapflowError): boolean {
  if (error.code === "STORE_CONNECTION_LOST" || error.code === "STORE_TIMEOUT") return true;
  const errno = error.context.errno;
  return (
    error.code === "STORE_UNAVAILABLE" &&
    (errno === "ETIMEDOUT" || errno === "EHOSTUNREACH" || errno === "ENETUNREACH")
  );
}
