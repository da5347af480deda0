import { CapflowError } from "@capflow/core";
import { describe, expect, test } from "vitest";
import { translateRedisError } from "../src/translate-redis-error.ts";

function withErrno(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("translateRedisError", () => {
  test.each([
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
    [new Error("Connection is closed."), true],
    [new Error("Command timed out"), true],
    [
      Object.assign(new Error("Reached the max retries per request limit (which is 0)."), {
        name: "MaxRetriesPerRequestError",
      }),
      true,
    ],
    [withErrno("connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED"), true],
    [withErrno("read ECONNRESET", "ECONNRESET"), true],
    [new Error("LOADING Redis is loading the dataset in memory"), true],
    [new Error("BUSY Redis is busy running a script."), true],
    [new Error("READONLY You can't write against a read only replica."), true],
    [new Error("CLUSTERDOWN The cluster is down"), true],
    [new Error("TRYAGAIN Multiple keys request during rehashing of slot"), true],
    [new Error("OOM command not allowed when used memory > 'maxmemory'."), true],
    [new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), false],
    [new Error("NOPERM this user has no permissions to run the 'evalsha' command"), false],
    [new Error("NOAUTH Authentication required."), false],
    [new Error("ERR Error running script (call to f_0123): @user_script:1: bad"), false],
    ["a string", false],
  ])("%s → retryable %s", (error, retryable) => {
    for (const code of ["LOCK_UNAVAILABLE", "LIMITER_UNAVAILABLE"] as const) {
      const translated = translateRedisError(error, code, { lock: "k" });
      expect(translated.code).toBe(code);
      expect(translated.retryable).toBe(retryable);
      expect(translated.context).toEqual({ lock: "k" });
      expect(translated.cause).toBe(error);
      expect(translated.message).toMatch(retryable ? /try again later/ : /will not pass by itself/);
    }
  });

  test("a CapflowError passes through with the added context", () => {
    const original = new CapflowError("LOCK_LOST", "lost", { retryable: true });
    const translated = translateRedisError(original, "LOCK_UNAVAILABLE", { lock: "k" });
    expect(translated.code).toBe("LOCK_LOST");
    expect(translated.context).toEqual({ lock: "k" });
  });
});
