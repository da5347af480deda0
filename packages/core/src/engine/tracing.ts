import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
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

/** What `trace` delegates to while no SDK registered a tracer provider. */
const noTracerProvider = new ProxyTracerProvider().getDelegate();
/** A context only a registered context manager carries into a callback. */
const probe = ROOT_CONTEXT.setValue(createContextKey("capflow.tracing.probe"), true);
/** Handed to work that runs without a span: every call on it does nothing. */
const noSpan = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether a span could be seen by anyone: a tracer provider is registered, or a context manager
 * that would carry the step's trace into the code it runs. A host without OpenTelemetry has
 * neither; its spans would all be no-ops, so they are skipped (each one's contexts and closures
 * cost a few microseconds, six times per call step).
 */
function tracingInUse(): boolean {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== noTracerProvider)
    return true;
  return context.with(probe, () => context.active() === probe);
}

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
  parent?: Context,
): Promise<T> {
  if (!tracingInUse()) {
    try {
      return work(noSpan);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return tracer.startActiveSpan(name, { attributes }, parent ?? context.active(), async (span) => {
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
  if (!tracingInUse()) return inSpan("capflow.step", {}, work);
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
