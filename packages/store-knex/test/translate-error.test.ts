import { CapflowError, type ErrorCode } from "@capflow/core";
import { describe, expect, test } from "vitest";
import { describePostgres } from "../src/index.ts";
import { mayHaveCommitted, translateStoreError } from "../src/translate-error.ts";

/** What pg and PGlite throw: an Error with the SQLSTATE in `code` and names of what was hit. */
function databaseError(code: string, fields: Record<string, string> = {}): Error {
  return Object.assign(new Error(`select 1 - server said ${code}`), { code, ...fields });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -1 });
}

const cases: [string, unknown, ErrorCode, boolean][] = [
  [
    "unique violation",
    databaseError("23505", { constraint: "inbox_dedupe" }),
    "STORE_UNIQUE_VIOLATION",
    false,
  ],
  ["serialization failure", databaseError("40001"), "STORE_SERIALIZATION_FAILURE", true],
  ["deadlock", databaseError("40P01"), "STORE_DEADLOCK", true],
  ["statement timeout / query_canceled", databaseError("57014"), "STORE_TIMEOUT", true],
  ["lock timeout", databaseError("55P03"), "STORE_TIMEOUT", true],
  ["admin shutdown (pg_terminate_backend)", databaseError("57P01"), "STORE_CONNECTION_LOST", true],
  ["crash shutdown", databaseError("57P02"), "STORE_CONNECTION_LOST", true],
  ["cannot connect now (starting up)", databaseError("57P03"), "STORE_UNAVAILABLE", true],
  ["idle in transaction timeout", databaseError("25P03"), "STORE_CONNECTION_LOST", true],
  ["connection failure 08006", databaseError("08006"), "STORE_CONNECTION_LOST", true],
  ["connection does not exist 08003", databaseError("08003"), "STORE_CONNECTION_LOST", true],
  ["unable to establish 08001", databaseError("08001"), "STORE_UNAVAILABLE", true],
  ["too many connections", databaseError("53300"), "STORE_UNAVAILABLE", true],
  ["out of memory", databaseError("53200"), "STORE_UNAVAILABLE", true],
  ["bad password", databaseError("28P01"), "STORE_UNAVAILABLE", false],
  ["database missing", databaseError("3D000"), "STORE_UNAVAILABLE", false],
  [
    "table missing (not migrated)",
    databaseError("42P01", { table: "instances" }),
    "STORE_FAILED",
    false,
  ],
  ["trigger raise", databaseError("P0001"), "STORE_FAILED", false],
  ["syntax error", databaseError("42601"), "STORE_FAILED", false],
  [
    "check violation",
    databaseError("23514", { constraint: "instances_status_check" }),
    "STORE_FAILED",
    false,
  ],
  ["ECONNREFUSED", socketError("ECONNREFUSED"), "STORE_UNAVAILABLE", true],
  [
    "ECONNREFUSED inside Node 20's AggregateError (dual-stack localhost)",
    Object.assign(
      new AggregateError([socketError("ECONNREFUSED"), socketError("ECONNREFUSED")]),
      {},
    ),
    "STORE_UNAVAILABLE",
    true,
  ],
  ["ECONNRESET", socketError("ECONNRESET"), "STORE_CONNECTION_LOST", true],
  ["EPIPE (not a SQLSTATE)", socketError("EPIPE"), "STORE_CONNECTION_LOST", true],
  ["ETIMEDOUT", socketError("ETIMEDOUT"), "STORE_UNAVAILABLE", true],
  ["ENOTFOUND", socketError("ENOTFOUND"), "STORE_UNAVAILABLE", false],
  ["EAI_AGAIN", socketError("EAI_AGAIN"), "STORE_UNAVAILABLE", true],
  [
    "knex pool acquire timeout",
    Object.assign(
      new Error(
        "Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?",
      ),
      { name: "KnexTimeoutError" },
    ),
    "STORE_UNAVAILABLE",
    true,
  ],
  [
    "pg: connection terminated",
    new Error("Connection terminated unexpectedly"),
    "STORE_CONNECTION_LOST",
    true,
  ],
  [
    "pg: client not queryable",
    new Error("Client has encountered a connection error and is not queryable"),
    "STORE_CONNECTION_LOST",
    true,
  ],
  ["pg: client-side query timeout", new Error("Query read timeout"), "STORE_TIMEOUT", true],
  ["PGlite closed", new Error("PGlite is closed"), "STORE_UNAVAILABLE", false],
  ["anything else", new TypeError("boom"), "STORE_FAILED", false],
  ["a thrown string", "boom", "STORE_FAILED", false],
];

describe("translateStoreError", () => {
  test.each(cases)("%s", (_, input, code, retryable) => {
    const error = translateStoreError(input, { target: "PostgreSQL at db:5432/app" });
    expect(error).toBeInstanceOf(CapflowError);
    expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
    expect(error.cause).toBe(input);
  });

  test("a CapflowError passes through unchanged", () => {
    const original = new CapflowError("STORE_CONFLICT", "moved");
    expect(translateStoreError(original)).toBe(original);
  });

  test("messages say what to do and name the target, never the SQL or bound values", () => {
    const refused = translateStoreError(socketError("ECONNREFUSED"), {
      target: describePostgres("postgres://app:s3cret@db.internal:6543/loans"),
    });
    expect(refused.message).toBe(
      "cannot reach PostgreSQL at db.internal:6543/loans: connection refused; is it running? check DATABASE_URL",
    );
    const unique = translateStoreError(
      Object.assign(new Error('insert into x values ($1) - duplicate key value "13800138000"'), {
        code: "23505",
        constraint: "inbox_dedupe",
        detail: "Key (dedupe_key)=(13800138000) already exists.",
      }),
    );
    expect(unique.message).not.toContain("13800138000");
    expect(unique.message).not.toContain("insert");
    expect(unique.context).toEqual({ sqlState: "23505", constraint: "inbox_dedupe" });
    expect(JSON.stringify(unique)).not.toContain("13800138000");
    const missing = translateStoreError(databaseError("42P01"));
    expect(missing.message).toContain("capflow migrate");
  });

  test("describePostgres leaves out user and password", () => {
    expect(describePostgres("postgres://postgres:pw@127.0.0.1:5432/test")).toBe(
      "PostgreSQL at 127.0.0.1:5432/test",
    );
    expect(describePostgres("postgres://u@host/db")).toBe("PostgreSQL at host:5432/db");
    expect(describePostgres("not a url :pw@")).not.toContain("pw");
  });

  test("a commit is re-read after failures that may follow its arrival at the server", () => {
    const after = (error: unknown) => mayHaveCommitted(translateStoreError(error));
    // The connection broke or went silent while the statement ran.
    for (const code of ["ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]) {
      expect(after(socketError(code)), code).toBe(true);
    }
    expect(after(databaseError("57P01"))).toBe(true);
    // Nothing reached the server, or the server refused the statement.
    for (const code of ["ECONNREFUSED", "ENOTFOUND"]) expect(after(socketError(code))).toBe(false);
    expect(after(databaseError("23505"))).toBe(false);
    expect(after(new CapflowError("STORE_CONFLICT", "moved"))).toBe(false);
  });
});
