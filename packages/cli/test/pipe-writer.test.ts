import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { pipeWriter } from "../src/pipe-writer.ts";

describe("pipeWriter", () => {
  it("stops writing, without an error, when the reader closes the pipe (… | head -c 10)", async () => {
    const head = spawn("head", ["-c", "10"], { stdio: ["pipe", "ignore", "ignore"] });
    const write = pipeWriter(head.stdin);
    const exited = new Promise((resolve) => head.on("exit", resolve));
    // Far more than a pipe buffer: the writes after head exits fail with EPIPE.
    for (let round = 0; round < 50; round++) {
      write(`${"x".repeat(16_384)}\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await exited;
    await expect
      .poll(() => {
        write("still here\n");
        return head.stdin.destroyed;
      })
      .toBe(true);
  });

  it("still raises other stream errors", () => {
    const head = spawn("true", [], { stdio: ["pipe", "ignore", "ignore"] });
    pipeWriter(head.stdin);
    expect(() =>
      head.stdin.emit("error", Object.assign(new Error("disk on fire"), { code: "EIO" })),
    ).toThrow("disk on fire");
  });
});
