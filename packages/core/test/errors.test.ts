import { inspect } from "node:util";
import { describe, expect, test } from "vitest";
import { CapflowError, isCapflowError } from "../src/errors.ts";
import { Redacted } from "../src/redacted.ts";

describe("CapflowError", () => {
  test("carries code, context, cause and retryable", () => {
    const cause = new Error("socket hang up");
    const error = new CapflowError("STORE_CONNECTION_LOST", "reconnect and retry", {
      context: { channel: "lanbank" },
      cause,
      retryable: true,
    });
    expect(error.code).toBe("STORE_CONNECTION_LOST");
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(true);
    expect(isCapflowError(error, "STORE_CONNECTION_LOST")).toBe(true);
    expect(isCapflowError(error, "STORE_CONFLICT")).toBe(false);
    expect(isCapflowError(cause)).toBe(false);
  });

  test("withContext keeps the original values and adds new ones", () => {
    const error = new CapflowError("PROCESSOR_FAILED", "x", { context: { step: "apply" } });
    const enriched = error.withContext({ step: "other", instance: "i-1" });
    expect(enriched.context).toEqual({ step: "apply", instance: "i-1" });
    expect(enriched.code).toBe("PROCESSOR_FAILED");
  });

  test("toJSON leaves out the cause chain", () => {
    const error = new CapflowError("KEY_INVALID", "bad key", { cause: new Error("secret-bytes") });
    expect(JSON.stringify(error)).not.toContain("secret-bytes");
  });
});

describe("Redacted", () => {
  test("never prints its value", () => {
    const secret = Redacted.of("192006250b4c09247ec02edce69f6a2d");
    const printed = [
      String(secret),
      `${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ secret }),
    ];
    for (const text of printed) expect(text).not.toContain("192006");
    expect(Redacted.reveal(secret)).toBe("192006250b4c09247ec02edce69f6a2d");
  });
});
