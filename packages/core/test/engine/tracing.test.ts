import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { engineHarness } from "../support/harness.ts";

/** The host's SDK, as an application would register it; spans kept in memory. */
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe("OpenTelemetry spans per step", () => {
  test("a step is a span with render, seal, send, open and commit, in the trace that started it", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "SUCCESS", applyNo: "A-1" } });
    // An intake request's span: the start runs inside it.
    const tracer = trace.getTracer("intake");
    const { instance, intake } = await tracer.startActiveSpan(
      "POST /v1/instances",
      async (span) => {
        const started = await h.startLoan("L-traced");
        span.end();
        return { instance: started, intake: span.spanContext() };
      },
    );
    expect(instance.traceparent).toBe(`00-${intake.traceId}-${intake.spanId}-01`);
    expect((await h.engine.getInstance(instance.id))?.traceparent).toBe(instance.traceparent);

    // The worker runs the step later, outside any request.
    await h.engine.runDue();
    const spans = exporter.getFinishedSpans();
    const step = spans.find((span) => span.name === "capflow.step");
    expect(step?.spanContext().traceId).toBe(intake.traceId);
    expect(parentOf(step!)).toBe(intake.spanId);
    expect(step?.attributes).toMatchObject({
      "capflow.instance.id": instance.id,
      "capflow.channel": "lanbank",
      "capflow.behavior": "loan",
      "capflow.step": "apply",
    });
    const stages = spans
      .filter((span) => parentOf(span) === step?.spanContext().spanId)
      .map((span) => span.name);
    expect(stages).toEqual([
      "capflow.render",
      "capflow.seal",
      "capflow.send",
      "capflow.open",
      "capflow.commit",
    ]);
    const send = spans.find((span) => span.name === "capflow.send");
    expect(send?.attributes).toMatchObject({
      "capflow.interface": "loan.apply",
      "http.response.status_code": 200,
    });
    // Nothing of the message in span attributes.
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain(
      "110101199003071234",
    );
  });

  test("an instance started outside any trace runs its steps as root spans", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const instance = await h.startLoan("L-plain");
    expect(instance.traceparent).toBeUndefined();
    await h.engine.runDue();
    const step = exporter.getFinishedSpans().find((span) => span.name === "capflow.step");
    expect(step).toBeDefined();
    expect(parentOf(step!)).toBeUndefined();
  });

  test("a failing send marks its span", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { fault: "notSent" });
    await h.startLoan("L-down");
    await h.engine.runDue();
    const send = exporter.getFinishedSpans().find((span) => span.name === "capflow.send");
    expect(send?.status.code).toBe(2);
    expect(send?.events.map((event) => event.name)).toContain("exception");
  });
});
