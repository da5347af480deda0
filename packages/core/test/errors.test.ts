import { inspect } from "node:util";
import { describe, expect, test } from "vitest";
import {
  CapflowError,
  errorCodes,
  isCapflowError,
  retryableByDefault,
  toCapflowError,
} from "../src/errors.ts";
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

describe("retryability and recognition", () => {
  test("retryable comes from the code's entry unless the throw site says otherwise", () => {
    expect(new CapflowError("TRANSPORT_NOT_SENT", "x").retryable).toBe(true);
    expect(new CapflowError("TRANSPORT_UNKNOWN_OUTCOME", "x").retryable).toBe(false);
    expect(new CapflowError("STORE_CONFLICT", "x").retryable).toBe(false);
    expect(new CapflowError("STORE_CONFLICT", "x", { retryable: true }).retryable).toBe(true);
    expect(new CapflowError("LOCK_LOST", "x", { retryable: false }).retryable).toBe(false);
    expect(errorCodes).toEqual(Object.keys(retryableByDefault));
    expect(new Set(errorCodes).size).toBe(errorCodes.length);
  });

  test("an error of another copy of core is recognised by its brand", () => {
    // What a second installed copy of the package makes: another class, the same global symbol.
    class OtherCopyError extends Error {
      readonly code = "LOCK_LOST";
      constructor() {
        super("lost");
        Object.defineProperty(this, Symbol.for("@capflow/core:CapflowError"), { value: true });
      }
    }
    const foreign = new OtherCopyError();
    expect(isCapflowError(foreign, "LOCK_LOST")).toBe(true);
    expect(foreign instanceof CapflowError).toBe(true);
    expect(isCapflowError(new Error("plain"))).toBe(false);
    expect(new Error("plain") instanceof CapflowError).toBe(false);
    expect(isCapflowError({ code: "LOCK_LOST" })).toBe(false);
  });

  test("anything unclassified becomes INTERNAL with its cause; capflow errors stay as they are", () => {
    const bug = new TypeError("x is undefined");
    const wrapped = toCapflowError(bug, { step: "apply" });
    expect(wrapped).toMatchObject({
      code: "INTERNAL",
      retryable: false,
      context: { step: "apply" },
    });
    expect(wrapped.cause).toBe(bug);
    expect(wrapped.message).toContain("x is undefined");
    const own = new CapflowError("KEY_INVALID", "bad key");
    expect(toCapflowError(own)).toBe(own);
    expect(toCapflowError("thrown text").code).toBe("INTERNAL");
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
