import type { InstanceRecord } from "@capflow/core";
import { describe, expect, it } from "vitest";
import { createWorkerReporter } from "../src/worker-report.ts";

const instance = {
  id: "01J",
  channel: "lanbank",
  behavior: "loan",
  businessKey: "L001",
} as InstanceRecord;
const at = () => new Date("2026-12-06T10:00:00.000Z");

describe("what capflow worker tells the operator", () => {
  it("failures, parked instances, breakers, limiter waits (once a minute), counts", () => {
    let text = "";
    const report = createWorkerReporter({ format: "text", out: (line) => (text += line), now: at });
    report.engine(
      {
        type: "step.failed",
        instanceId: "01J",
        step: "apply",
        errorClass: "unknownOutcome",
        code: "TRANSPORT_UNKNOWN_OUTCOME",
        willRetry: false,
      },
      instance,
    );
    report.engine(
      { type: "instance.attention", instanceId: "01J", step: "review", reason: "manual" },
      instance,
    );
    const limited = {
      type: "step.failed" as const,
      instanceId: "01J",
      step: "apply",
      errorClass: "notSent",
      code: "LIMITER_REJECTED",
      willRetry: true,
    };
    report.engine(limited, instance);
    report.engine(limited, instance);
    report.flow({ type: "breaker.open", channel: "lanbank", interface: "loan.apply" });
    report.flow({ type: "breaker.closed", channel: "lanbank", interface: "loan.apply" });
    report.engine({
      type: "step.succeeded",
      instanceId: "01J",
      step: "query",
      to: "done",
      outcome: "ok",
    });
    report.minute();
    report.summary();
    expect(text.split("\n")).toEqual([
      "2026-12-06T10:00:00.000Z failed    lanbank/loan L001 at apply: TRANSPORT_UNKNOWN_OUTCOME (unknownOutcome), no retry",
      "2026-12-06T10:00:00.000Z parked    lanbank/loan L001 at review: manual; see capflow instances show 01J",
      "2026-12-06T10:00:00.000Z limited   lanbank/loan L001 at apply: LIMITER_REJECTED, not sent, retried later (once a minute per step)",
      "2026-12-06T10:00:00.000Z breaker   lanbank loan.apply open: calls are held back until a probe succeeds",
      "2026-12-06T10:00:00.000Z breaker   lanbank loan.apply closed",
      "2026-12-06T10:00:00.000Z counts    1 steps, 4 attempts, 1 failed (1 not retried), 2 limiter waits, 0 instances settled, 1 needing attention, 1 breakers opened",
      "stopped: 1 steps, 4 attempts, 1 failed (1 not retried), 2 limiter waits, 0 instances settled, 1 needing attention, 1 breakers opened",
      "",
    ]);
  });

  it("as JSON, one object per line", () => {
    const lines: string[] = [];
    const report = createWorkerReporter({
      format: "json",
      out: (line) => lines.push(line),
      now: at,
    });
    report.engine(
      { type: "instance.settled", instanceId: "01J", status: "succeeded", step: "done" },
      instance,
    );
    report.summary();
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        time: "2026-12-06T10:00:00.000Z",
        event: "instance.settled",
        type: "instance.settled",
        instanceId: "01J",
        status: "succeeded",
        step: "done",
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L001",
      },
      expect.objectContaining({ event: "worker.stopped", settled: 1, attempts: 0 }),
    ]);
  });
});
