import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { InstanceRecord } from "../ports/instance-store.ts";

/**
 * OpenTelemetry spans through `@opentelemetry/api` only: the host registers an SDK (and a
 * context manager) or nothing, and then every call here is a no-op. A step is one span
 * (`capflow.step`) with children `capflow.render`, `capflow.seal`, `capflow.send`,
 * `capflow.open` and `capflow.commit`; it joins the trace of the request that started its
 * instance (the W3C `traceparent` kept with the instance).
 */
const tracer = trace.getTracer("@capflow/core");

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The active span's context as a W3C `traceparent`, to keep with a new instance. */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpanContext(context.active());
  if (span === undefined || !trace.isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-${span.traceFlags.toString(16).padStart(2, "0")}`;
}

/** The trace a start runs in (an intake request's, say), kept so the instance's steps join it. */
export function traceOfStart(): { traceparent?: string } {
  const traceparent = activeTraceparent();
  return traceparent === undefined ? {} : { traceparent };
}

/** The context a `traceparent` names (the root context when it is absent or malformed). */
export function traceparentContext(traceparent: string | null | undefined): Context {
  const match = traceparent ? traceparentPattern.exec(traceparent) : null;
  if (!match) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  });
}

/** Runs `work` in a span, a child of the active one (or of `parent`); errors mark the span. */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A step's span, joining the trace its instance was started in. */
export function inStepSpan<T>(
  record: InstanceRecord,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return inSpan(
    "capflow.step",
    {
      "capflow.instance.id": record.id,
      "capflow.channel": record.channel,
      "capflow.behavior": record.behavior,
      "capflow.step": record.step,
      "capflow.attempt": record.attempt,
    },
    work,
    traceparentContext(record.traceparent),
  );
}
