import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterEach, describe, expect, test } from "vitest";
import { activeTraceparent, inSpan, inStepSpan } from "../../src/engine/tracing.ts";
import type { InstanceRecord } from "../../src/ports/instance-store.ts";

const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const record = {
  id: "I-1",
  channel: "lanbank",
  behavior: "loan",
  step: "apply",
  attempt: 0,
  traceparent,
} as InstanceRecord;

afterEach(() => context.disable());

describe("spans without an OpenTelemetry SDK", () => {
  test("the work runs with a span that records nothing, and its failures reach the caller", async () => {
    const seen = await inStepSpan(record, async (span) => {
      span.setAttribute("capflow.anything", 1);
      span.end();
      return span.isRecording();
    });
    expect(seen).toBe(false);
    await expect(
      inSpan("capflow.send", {}, async () => Promise.reject(new Error("down"))),
    ).rejects.toThrow("down");
    // A stage that throws before returning its promise still fails as a rejection.
    const thrown = inSpan("capflow.seal", {}, () => {
      throw new Error("no key");
    });
    await expect(thrown).rejects.toThrow("no key");
  });

  test("with a context manager but no tracer provider, code in a step still sees the step's trace", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const inside = await inStepSpan(record, async () => activeTraceparent());
    expect(inside?.split("-")[1]).toBe(traceparent.split("-")[1]);
  });

  test("without any, nothing is active inside a step (as with OpenTelemetry's no-op API)", async () => {
    expect(await inStepSpan(record, async () => activeTraceparent())).toBeUndefined();
  });
});
