import type { WireRequest } from "../crypto/handler.ts";
import { parseDuration } from "../definition/duration.ts";
import { ownEntry } from "../definition/own-entry.ts";
import type {
  BodyFormat,
  ErrorClass,
  MessageTemplate,
  Outcome,
  ResponseDefinition,
  StatusTable,
} from "../definition/types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import {
  decodeBytes,
  defaultCharset,
  encodeText,
  normaliseCharset,
  readingCharset,
  withCharset,
} from "../message/charset.ts";
import { codecFor } from "../message/codecs/codec-for.ts";
import { type ExtractionEnv, extractFields } from "../message/extract-fields.ts";
import { renderMessage } from "../message/render-message.ts";
import { applyStatusTable, isUnsignedAnswer } from "../message/status-table.ts";
import type { InstanceRecord } from "../ports/instance-store.ts";
import type { FlowControl } from "../runtime/flow-control/flow-control.ts";
import { flowRequestFor } from "../runtime/flow-control/flow-request.ts";
import type { StepRun } from "./step-run.ts";
import { inSpan } from "./tracing.ts";

/**
 * What one exchange needs of its caller: a step of an instance (`StepRun`), or a call that
 * belongs to no instance (`call-interface.ts`, a statement download).
 */
export type ExchangeRun = Pick<
  StepRun,
  "engine" | "channel" | "signal" | "renderScope" | "mask" | "errorContext"
> & {
  readonly record: Pick<InstanceRecord, "id" | "channel" | "updatedAt"> &
    Partial<Pick<InstanceRecord, "lastError">>;
};

/** A partner answer's status, normalised: the code as text (`""` when the answer carries none). */
export interface StatusResult {
  code: string;
  outcome: Outcome;
  retryable: boolean;
  notProcessed?: boolean;
  description?: string;
}

/**
 * The result of one request to a partner, classified by what it proves (concepts.md, "Failures
 * are classified"): answered, failed (not sent, unknown outcome, invalid answer), or not admitted.
 */
export type Exchange =
  | {
      kind: "answered";
      status: number;
      body: unknown;
      headers: Record<string, string>;
      fields: Record<string, unknown>;
      result: StatusResult;
      log: ExchangeLog;
    }
  | {
      kind: "failed";
      errorClass: ErrorClass;
      error: CapflowError;
      log: ExchangeLog;
      /** The partner's answer proves it did not process the request: resend with the same serial. */
      notProcessed?: boolean;
    }
  | {
      kind: "not-admitted";
      retryAfterMs: number;
      reason: string;
      log: ExchangeLog;
      /** Held back by the channel's calendar: due again exactly then (its next opening). */
      until?: number;
    };

export interface ExchangeLog {
  request?: unknown;
  response?: unknown;
  /**
   * The messages as sent and received: text, readable whatever the charset; for a charset other
   * than UTF-8, also the exact bytes in base64 (`requestBytes`, `responseBytes`).
   */
  raw?: { request?: string; response?: string; requestBytes?: string; responseBytes?: string };
  startedAt: number;
  durationMs: number;
  /** Set when the call reached the partner (answered or unknown outcome): a latency sample. */
  interface?: string;
}

export interface ExchangeSpec {
  interfaceName: string;
  request: MessageTemplate;
  response: ResponseDefinition | undefined;
  /** The attempt's serial number and start, kept across resends of the same attempt. */
  attempt?: { number: number; serial: string; startedAt: number };
  /** Runs after admission and before sending (e.g. recording the intent of a non-idempotent call). */
  beforeSend?: () => Promise<void>;
  /** Which calendar rules apply by default: a call's, or a poll's. Default `call`. */
  kind?: "call" | "poll";
}

/** The `User-Agent` of requests to a channel that names none. */
export const defaultUserAgent = "capflow";

/**
 * Every stage of one partner call: render, seal, flow control, send, open, decode, extract,
 * status. Tells the host what came of it (`partner.called`), unless nothing was tried (a
 * template or a key failed before flow control).
 */
export async function exchangeWithPartner(
  run: ExchangeRun,
  spec: ExchangeSpec,
  flow: FlowControl,
): Promise<Exchange> {
  const exchange = await exchangeOnce(run, spec, flow);
  const response = exchange.log.response as { status?: unknown } | undefined;
  const httpStatus = typeof response?.status === "number" ? response.status : undefined;
  run.engine.emit({
    type: "partner.called",
    instanceId: run.record.id,
    channel: run.record.channel,
    interface: spec.interfaceName,
    outcome:
      exchange.kind === "answered"
        ? "answered"
        : exchange.kind === "not-admitted"
          ? "refused"
          : exchange.errorClass === "notSent" || exchange.errorClass === "invalidResponse"
            ? exchange.errorClass
            : "unknownOutcome",
    // A label, so one word: the calendar's reason names the opening time.
    ...(exchange.kind === "not-admitted"
      ? { refusal: exchange.until === undefined ? exchange.reason : "calendar" }
      : {}),
    ...(httpStatus === undefined ? {} : { httpStatus }),
    durationMs: exchange.log.durationMs,
  });
  return exchange;
}

async function exchangeOnce(
  run: ExchangeRun,
  spec: ExchangeSpec,
  flow: FlowControl,
): Promise<Exchange> {
  const { channel, engine } = run;
  const startedAt = engine.clock.now();
  const log: ExchangeLog = { startedAt, durationMs: 0 };
  const finish = () => {
    log.durationMs = engine.clock.now() - startedAt;
  };
  const spanAttributes = {
    "capflow.channel": channel.definition.code,
    "capflow.interface": spec.interfaceName,
  };
  const iface = ownEntry(channel.definition.interfaces, spec.interfaceName);
  if (!iface) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `interface "${spec.interfaceName}" is not defined in channel ${channel.definition.code}`,
      { context: run.errorContext() },
    );
  }

  // The channel's calendar first: outside its windows nothing is rendered, sealed or sent.
  if (engine.calendar.gate) {
    const record = run.record;
    const gate = await engine.calendar.gate({
      channel: channel.definition,
      interfaceName: spec.interfaceName,
      kind: spec.kind ?? "call",
      at: startedAt,
      ...(record.lastError?.code === "CALENDAR_CLOSED" ? { heldSince: record.updatedAt } : {}),
    });
    if (!gate.open) {
      finish();
      if ("expired" in gate) {
        throw new CapflowError(
          "CALENDAR_CUTOFF_EXPIRED",
          `${gate.reason}; the call was not sent: retry the instance to send it in the next window, or cancel it`,
          { context: run.errorContext() },
        );
      }
      return {
        kind: "not-admitted",
        retryAfterMs: gate.until - startedAt,
        until: gate.until,
        reason: `calendar: ${gate.reason}`,
        log,
      };
    }
  }

  // A call this worker alone knows cannot go out (its circuit open, its channel's bulkhead full)
  // is refused before it is rendered and sealed: each retry would otherwise cost a signature.
  const flowRequest = flowRequestFor(channel.definition, spec.interfaceName, channel.account);
  const early = flow.refusesNow(flowRequest);
  if (early !== undefined) {
    finish();
    return { kind: "not-admitted", retryAfterMs: early.retryAfterMs, reason: early.reason, log };
  }

  // render + seal + encode once in the interface's charset: failures here are ours, nothing was sent
  const charset = iface.charset ?? channel.definition.charset ?? defaultCharset;
  const declaredCharset = iface.charset ?? channel.definition.charset;
  let sealed: WireRequest;
  let bytes: Buffer;
  try {
    const rendered = await inSpan("capflow.render", spanAttributes, () =>
      renderMessage(spec.request, run.renderScope(spec.attempt), {
        registry: engine.processors,
        clock: engine.clock,
        signal: run.signal,
        path: iface.path,
      }),
    );
    // Handlers and the wire speak lower-case header names (see WireRequest).
    const headers = lowerCaseNames(rendered.headers);
    headers["user-agent"] ??= channel.definition.userAgent ?? defaultUserAgent;
    log.request = run.mask({
      method: iface.method,
      path: rendered.path ?? iface.path,
      query: rendered.query,
      headers,
      body: rendered.body,
    });
    sealed = await inSpan("capflow.seal", spanAttributes, () =>
      channel.handler.sealRequest({
        method: iface.method,
        path: rendered.path ?? iface.path,
        headers,
        query: rendered.query,
        body: rendered.body,
        codec: codecFor(spec.request.format, {
          ...xmlOptions(rendered.xml ?? spec.request.xml),
          charset,
        }),
        charset,
      }),
    );
    checkHeaderValues(sealed.headers, run);
    bytes = encodeText(sealed.body, charset, run.errorContext());
    const contentType = sealed.headers["content-type"];
    if (contentType !== undefined)
      sealed = {
        ...sealed,
        headers: { ...sealed.headers, "content-type": withCharset(contentType, charset) },
      };
  } catch (error) {
    finish();
    throw asCapflowError(error, "TEMPLATE_RENDER_FAILED", run);
  }

  const entry = await flow.enter(flowRequest);
  if (!entry.admitted) {
    finish();
    return { kind: "not-admitted", retryAfterMs: entry.retryAfterMs, reason: entry.reason, log };
  }
  let outcomeForBreaker: "success" | "failure" | "timeout" | "not-sent" = "not-sent";
  try {
    // Before the intent: a base URL that does not parse is a definition error, nothing was sent.
    const url = buildUrl(channel.definition.baseUrl, sealed.path, sealed.query);
    if (spec.beforeSend) await spec.beforeSend();
    if (run.signal.aborted) throw run.signal.reason;
    if (engine.keepRawMessages) log.raw = rawText("request", sealed.body, bytes, charset);
    let response: Awaited<ReturnType<typeof engine.transport.send>>;
    try {
      response = await inSpan("capflow.send", spanAttributes, async (span) => {
        const answer = await engine.transport.send({
          url,
          method: sealed.method,
          headers: sealed.headers,
          // No body at all rather than an empty one: a GET must not carry one, and a bodiless
          // DELETE is signed over the empty string the partner will see.
          ...(sealed.method === "GET" || bytes.length === 0 ? {} : { body: bytes }),
          timeoutMs: parseDuration(iface.timeout ?? "30s"),
          connectTimeoutMs: parseDuration(iface.connectTimeout ?? "5s"),
          signal: run.signal,
          ...(channel.tls === undefined ? {} : { tls: channel.tls }),
        });
        span.setAttribute("http.response.status_code", answer.status);
        return answer;
      });
    } catch (error) {
      finish();
      const failure = asCapflowError(error, "TRANSPORT_UNKNOWN_OUTCOME", run);
      // Aborted by this side (the instance lock was lost): says nothing about the partner.
      outcomeForBreaker = run.signal.aborted
        ? "not-sent"
        : failure.code === "TRANSPORT_UNKNOWN_OUTCOME"
          ? "timeout"
          : "failure";
      const errorClass: ErrorClass =
        failure.code === "TRANSPORT_NOT_SENT" ? "notSent" : "unknownOutcome";
      if (errorClass === "unknownOutcome" && !run.signal.aborted)
        log.interface = spec.interfaceName;
      return { kind: "failed", errorClass, error: failure, log };
    }
    log.interface = spec.interfaceName;
    log.response = { status: response.status };
    const responseFormat: BodyFormat = spec.response?.format ?? spec.request.format;
    const table = iface.statusTable ?? channel.definition.statusTable;
    if (table?.unsigned !== undefined) {
      const unsigned = unsignedAnswer(run, table, response, declaredCharset, responseFormat);
      if (unsigned) {
        finish();
        log.response = run.mask({ status: response.status, body: unsigned.body });
        if (engine.keepRawMessages)
          log.raw = {
            ...log.raw,
            ...rawText("response", unsigned.text, response.body, unsigned.charset),
          };
        if (unsigned.result.notProcessed) {
          outcomeForBreaker = "failure";
          return refused(run, spec.interfaceName, response.status, unsigned.result, log);
        }
        outcomeForBreaker = response.status >= 500 ? "failure" : "success";
        return {
          kind: "answered",
          status: response.status,
          body: unsigned.body,
          headers: response.headers,
          fields: {},
          result: unsigned.result,
          log,
        };
      }
    }
    if (response.status >= 500) {
      if (engine.keepRawMessages)
        log.raw = { ...log.raw, responseBytes: Buffer.from(response.body).toString("base64") };
      outcomeForBreaker = "failure";
      // A gateway's 5xx says nothing about whether the partner behind it processed the request.
      finish();
      const error = new CapflowError(
        "TRANSPORT_HTTP_STATUS",
        `${channel.definition.code} ${spec.interfaceName} answered HTTP ${response.status}; the outcome is unknown, query before resending`,
        { context: run.errorContext(), retryable: false },
      );
      return { kind: "failed", errorClass: "unknownOutcome", error, log };
    }
    outcomeForBreaker = "success";
    let responseText: string;
    let responseCharset: string;
    try {
      responseCharset = readingCharset(
        response.headers["content-type"],
        declaredCharset,
        "the answer",
        run.errorContext(),
      );
      responseText = decodeBytes(response.body, responseCharset, run.errorContext());
    } catch (error) {
      if (engine.keepRawMessages)
        log.raw = { ...log.raw, responseBytes: Buffer.from(response.body).toString("base64") };
      finish();
      return {
        kind: "failed",
        errorClass: "invalidResponse",
        error: asCapflowError(error, "CRYPTO_VERIFY_FAILED", run),
        log,
      };
    }
    if (engine.keepRawMessages)
      log.raw = {
        ...log.raw,
        ...rawText("response", responseText, response.body, responseCharset),
      };

    let opened: Awaited<ReturnType<typeof channel.handler.openResponse>>;
    try {
      opened = await inSpan("capflow.open", spanAttributes, () =>
        channel.handler.openResponse(
          {
            status: response.status,
            headers: response.headers,
            body: responseText,
            charset: responseCharset,
          },
          sealed,
          codecFor(responseFormat, { charset: responseCharset }),
        ),
      );
    } catch (error) {
      finish();
      return {
        kind: "failed",
        errorClass: "invalidResponse",
        error: asCapflowError(error, "CRYPTO_VERIFY_FAILED", run),
        log,
      };
    }
    log.response = run.mask({ status: response.status, body: opened.body });
    const env: ExtractionEnv = {
      body: opened.body,
      headers: opened.headers,
      status: response.status,
    };
    let fields: Record<string, unknown>;
    let result: StatusResult;
    try {
      fields = extractFields(spec.response?.extract ?? {}, env);
      result = statusOf(iface.statusTable ?? channel.definition.statusTable, env, response.status);
    } catch (error) {
      finish();
      return {
        kind: "failed",
        errorClass: "invalidResponse",
        error: asCapflowError(error, "EXTRACT_FAILED", run),
        log,
      };
    }
    finish();
    if (result.notProcessed) {
      outcomeForBreaker = "failure";
      return refused(run, spec.interfaceName, response.status, result, log);
    }
    return {
      kind: "answered",
      status: response.status,
      body: opened.body,
      headers: opened.headers,
      fields,
      result,
      log,
    };
  } finally {
    await entry.ticket.complete(outcomeForBreaker);
  }
}

/**
 * The answer decoded without opening, when its status table's `unsigned` condition holds for it;
 * undefined otherwise (including an answer that does not even decode: opening it reports that).
 */
function unsignedAnswer(
  run: ExchangeRun,
  table: StatusTable,
  response: { status: number; headers: Record<string, string>; body: Uint8Array },
  declaredCharset: string | undefined,
  format: BodyFormat,
): { body: unknown; text: string; charset: string; result: StatusResult } | undefined {
  let body: unknown;
  let text: string;
  let charset: string;
  try {
    charset = readingCharset(
      response.headers["content-type"],
      declaredCharset,
      "the answer",
      run.errorContext(),
    );
    text = decodeBytes(response.body, charset, run.errorContext());
    body = codecFor(format, { charset }).decode(text);
  } catch {
    return undefined;
  }
  const env: ExtractionEnv = { body, headers: response.headers, status: response.status };
  if (!isUnsignedAnswer(table, env, run.errorContext())) return undefined;
  return { body, text, charset, result: statusOf(table, env, response.status) };
}

/** An answer the partner documents as "not processed": what is recorded names status and code. */
function refused(
  run: ExchangeRun,
  interfaceName: string,
  httpStatus: number,
  result: StatusResult,
  log: ExchangeLog,
): Extract<Exchange, { kind: "failed" }> {
  const meaning = result.description === undefined ? "" : ` (${result.description})`;
  const error = new CapflowError(
    "PARTNER_REFUSED",
    `${run.channel.definition.code} ${interfaceName} answered HTTP ${httpStatus} with code ${result.code || "(none)"}${meaning}, which the partner documents as not processed; resending with the same serial number`,
    { context: { ...run.errorContext(), httpStatus, partnerCode: result.code } },
  );
  return { kind: "failed", errorClass: "notSent", error, log, notProcessed: true };
}

function statusOf(
  table: StatusTable | undefined,
  env: ExtractionEnv,
  httpStatus: number,
): StatusResult {
  if (table) {
    const status = applyStatusTable(table, env);
    return {
      code: status.code ?? "",
      outcome: status.outcome,
      retryable: status.retryable,
      ...(status.notProcessed ? { notProcessed: true } : {}),
      ...(status.description === undefined ? {} : { description: status.description }),
    };
  }
  // Without a table, HTTP decides: the route conditions are expected to look at the fields.
  const ok = httpStatus >= 200 && httpStatus < 300;
  return { code: String(httpStatus), outcome: ok ? "succeeded" : "failed", retryable: false };
}

/**
 * A header value with CR, LF or NUL would split the request (header injection); HTTP clients
 * refuse it, and resending cannot help. It comes from a template, a processor or the channel:
 * a configuration error, parked, never retried.
 */
function checkHeaderValues(headers: Record<string, string>, run: ExchangeRun): void {
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(value)) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `header ${JSON.stringify(name.replace(/[\r\n\0]/g, " "))} holds a line break or NUL, which HTTP does not allow; fix the template or processor that writes it, then retry the instance`,
        {
          context: { ...run.errorContext(), header: name.replace(/[\r\n\0]/g, " ") },
          retryable: false,
        },
      );
    }
  }
}

function buildUrl(baseUrl: string, path: string, query: Record<string, string>): string {
  const url = new URL(baseUrl.replace(/\/+$/, "") + (path.startsWith("/") ? path : `/${path}`));
  for (const [name, value] of Object.entries(query)) url.searchParams.append(name, value);
  return url.toString();
}

function asCapflowError(
  error: unknown,
  fallback:
    | "TEMPLATE_RENDER_FAILED"
    | "TRANSPORT_UNKNOWN_OUTCOME"
    | "CRYPTO_VERIFY_FAILED"
    | "EXTRACT_FAILED",
  run: ExchangeRun,
): CapflowError {
  if (isCapflowError(error)) return error.withContext(run.errorContext());
  return new CapflowError(
    fallback,
    `${fallback.toLowerCase().replaceAll("_", " ")}: ${(error as Error)?.message ?? String(error)}`,
    {
      cause: error,
      context: run.errorContext(),
    },
  );
}

/** Step-log copies of a message: its text, and its bytes too where the charset is not UTF-8. */
function rawText(
  which: "request" | "response",
  text: string,
  bytes: Uint8Array,
  charset: string,
): NonNullable<ExchangeLog["raw"]> {
  const key = which === "request" ? "requestBytes" : "responseBytes";
  return normaliseCharset(charset) === defaultCharset
    ? { [which]: text }
    : { [which]: text, [key]: Buffer.from(bytes).toString("base64") };
}

function xmlOptions(
  xml: MessageTemplate["xml"] | undefined,
): { xml: NonNullable<MessageTemplate["xml"]> } | undefined {
  return xml ? { xml } : undefined;
}

/** What route conditions see after an answer: its outcome, code, fields and body, and the instance's data. */
export function answerRouteEnv(run: StepRun, answered: Extract<Exchange, { kind: "answered" }>) {
  return {
    outcome: answered.result.outcome,
    code: answered.result.code,
    fields: answered.fields,
    body: answered.body,
    status: answered.status,
    ...run.routeData(),
  };
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) result[name.toLowerCase()] = value;
  return result;
}
