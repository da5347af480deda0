/**
 * The definition model: what users author in JSON. These types mirror the published JSON Schemas
 * in `packages/core/schema/` (channel.schema.json, behavior.schema.json); change both together.
 *
 * Conventions used throughout:
 * - Durations are strings: `500ms`, `15s`, `3m`, `2h`, `1d`.
 * - Expressions (routes, extraction, correlation, dedupe keys) are CEL, evaluated without `eval`.
 * - Templates are Handlebars; processors are available as helpers.
 * - Key material is referenced (`env:NAME`, `file:relative/path.pem`), never inlined, except in
 *   tests where `inline:` is allowed.
 */

import type { InputSchema } from "./input-schema.ts";

/** A duration such as `500ms`, `15s`, `3m`, `2h`, `1d`. */
export type Duration = string;

/** A CEL expression. */
export type Expression = string;

/** A reference to secret material: `env:NAME`, `file:path`, or a scheme a custom resolver adds. */
export type SecretRef = string;

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export type BodyFormat = "json" | "xml" | "form" | "text";

/** Canonical outcome of a partner answer, after the channel's status table is applied. */
export type Outcome = "succeeded" | "failed" | "processing" | "unknown";

export type TerminalOutcome = "succeeded" | "failed" | "manual" | "cancelled";

export type StepKind = "call" | "poll" | "callback" | "delay" | "decide" | "terminal";

/**
 * Failure classes a retry schedule can apply to.
 * - `notSent`: the request certainly did not reach the partner (connection refused, limiter or
 *   breaker rejected): always safe to retry.
 * - `unknownOutcome`: the request may have been processed (timeout, connection lost after
 *   sending). Retried only for idempotent calls; otherwise the step's `onUnknownOutcome` runs.
 * - `partnerRetryable`: the partner answered with a status the status table marks retryable.
 * - `invalidResponse`: the answer could not be opened, decoded or routed.
 */
export type ErrorClass = "notSent" | "unknownOutcome" | "partnerRetryable" | "invalidResponse";

export interface RetryPolicy {
  /** Waits before each retry; its length is the number of retries. */
  schedule: Duration[];
  /** Which failures the schedule applies to. Default: `["notSent"]`. */
  on?: ErrorClass[];
}

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  /** Window length. */
  per: Duration;
}

/**
 * The circuit breaker of one interface (per worker). While open, calls are not sent and their steps
 * are delayed, never failed; after `cooldown` one probe call decides whether it closes again.
 */
export interface BreakerDefinition {
  /** Open when more than this share (0 < x < 1) of the sampled calls failed. Default 0.5. */
  failureRate?: number;
  /** How many of the latest calls the failure rate is measured over. Default 20. */
  sampleSize?: number;
  /** Calls needed in the sample before the failure rate can open the circuit. Default 10. */
  minimumCalls?: number;
  /** Open after this many timeouts in a row, whatever the rate. Default 5. */
  consecutiveTimeouts?: number;
  /** How long the circuit stays open before one probe call. Default `30s`. */
  cooldown?: Duration;
}

/** One endpoint of a channel. */
export interface InterfaceDefinition {
  method: HttpMethod;
  /** Path appended to the channel's base URL. May be a Handlebars template. */
  path: string;
  /** Response timeout. Default `30s`. */
  timeout?: Duration;
  /** Connect timeout. Default `5s`. */
  connectTimeout?: Duration;
  /** Maximum calls in flight to this interface across all workers. */
  concurrency?: number;
  /** Maximum call rate to this interface across all workers. */
  rate?: RateLimit;
  /** When to stop calling this interface for a while after repeated failures. Defaults apply without it. */
  breaker?: BreakerDefinition;
  /** Default retry policy for steps calling this interface (a step may override it). */
  retry?: RetryPolicy;
  /** Whether the partner treats a resend with the same serial number as the same request. */
  idempotent?: boolean;
  /**
   * The partner deduplicates this interface's requests by our serial or business number (Alipay
   * `out_biz_no`, WeChat Pay and Swiftpass `out_trade_no`): a second request with the same number
   * never makes a second order. Only then may a recovery query that proves the order does not
   * exist (`onNotReceived` of a poll step) resend the call, with the same serial, no earlier than
   * `grace` (default `1m`) after the first send.
   */
  deduplicatesSerial?: {
    grace?: Duration;
    /**
     * Most resends of one attempt after "not found" (default 3): a partner that keeps timing out
     * and keeps answering "not found" sends the instance to the query's `onExhausted` (normally
     * manual review) with `RECOVERY_RESENDS_EXHAUSTED`, instead of resending forever.
     */
    maxResends?: number;
  };
  /** Status table applied to this interface's answers (overrides the channel's). */
  statusTable?: StatusTable;
  /** Charset of this interface's messages (overrides the channel's). */
  charset?: string;
}

/** Maps partner status codes to canonical outcomes. */
export interface StatusTable {
  /**
   * CEL condition over the answer as it arrived (`status`, `headers`, and `body` decoded but not
   * verified or decrypted): when it holds, the answer is one the partner does not sign (a gateway's
   * `400 {"code":"9001"}`, Swiftpass `status != 0`) and the table applies to it unopened. Such
   * an answer only selects a mapping: its fields are not extracted.
   */
  unsigned?: Expression;
  /** CEL expression computing the partner status code from the decoded response. */
  code: Expression;
  /** Partner code -> outcome. */
  codes: Record<string, StatusMapping>;
  /** Used for codes not in the table. Default `{ outcome: "unknown" }`. */
  default?: StatusMapping;
}

export interface StatusMapping {
  outcome: Outcome;
  /** For failures: whether trying again may succeed. Default false. */
  retryable?: boolean;
  /**
   * The partner documents that it did not process a request answered so (system busy, refused
   * before acceptance): a call resends it with the same serial number on its retry schedule
   * (class `notSent`), even a call that is not idempotent.
   */
  notProcessed?: boolean;
  /** A human description shown in step logs and to operators. */
  description?: string;
}

/** How a channel answers one of its inbound callbacks. */
export interface AcknowledgementDefinition {
  /** HTTP status sent back. Default 200. */
  status?: number;
  format: BodyFormat;
  /** Body template (see {@link MessageTemplate.body}). */
  body?: TemplateValue;
  headers?: Record<string, string>;
  /** The body to answer with when the callback is rejected (bad signature, unknown instance). */
  rejectBody?: TemplateValue;
  rejectStatus?: number;
  /** XML options of the acknowledgement (required with `format: "xml"`). */
  xml?: XmlOptions;
}

/** An inbound notification from the channel. */
export interface CallbackDefinition {
  format: BodyFormat;
  /** CEL expression over the opened callback giving the business key of the instance. */
  correlation: Expression;
  /**
   * CEL expression giving a key unique per notification of this callback, for at-most-once
   * application. Entries are deduplicated per (channel, callback, key).
   */
  dedupeKey: Expression;
  /**
   * CEL condition over the opened notification (`body`, `headers`, `query`) that holds only for
   * notifications of this callback, e.g. `body.notify_type == "loan"`. A verified notification
   * that fails it is refused (`CALLBACK_MISMATCH`) and nothing is stored, so a notification of one
   * kind posted to another callback's URL is never applied there. Required when a channel
   * declares more than one callback.
   */
  match?: Expression;
  /** Fields to extract, as CEL expressions over `body`, `headers` and `query`. */
  extract?: Record<string, Expression>;
  statusTable?: StatusTable;
  ack: AcknowledgementDefinition;
  /** Charset of this callback's notifications and acknowledgements (overrides the channel's). */
  charset?: string;
  /**
   * Keep each notification as received in its inbox entry (for disputes): the body's text and,
   * in a charset other than UTF-8, its exact bytes. Default false. Kept as received (not masked,
   * before decryption), so stored encrypted with the operator's raw message key: the engine
   * refuses such a notification (`RAW_MESSAGE_KEY_MISSING`) when it has no key.
   */
  keepRawBody?: boolean;
}

/** Personal-data masking rules applied to step logs. Field names match at any depth. */
export interface MaskingRules {
  /** Field name -> masking style. */
  fields: Record<string, MaskStyle>;
}

export type MaskStyle = "idCard" | "phone" | "bankCard" | "name" | "email" | "full";

export interface CryptoDefinition {
  /** Registered crypto handler name, e.g. `configurable`. */
  handler: string;
  /** Handler-specific options; validated by the handler itself. */
  options?: Record<string, unknown>;
}

/** One funder or partner. */
export interface ChannelDefinition {
  $schema?: string;
  code: string;
  name: string;
  baseUrl: string;
  /** IANA time zone of the partner's business calendar, e.g. `Asia/Shanghai`. */
  timeZone: string;
  crypto: CryptoDefinition;
  interfaces: Record<string, InterfaceDefinition>;
  callbacks?: Record<string, CallbackDefinition>;
  /** Status table applied to every interface without its own. */
  statusTable?: StatusTable;
  masking?: MaskingRules;
  /**
   * Values written once and read by every template of the channel (requests, acknowledgements):
   * `{{constants.merchantId}}`. Not secrets: keys and passwords are references under `crypto`.
   */
  constants?: Record<string, string | number | boolean>;
  /**
   * The `User-Agent` of every request to this channel unless a template sets one. Default
   * `capflow` (some partners, WeChat Pay APIv3 among them, refuse requests without one).
   */
  userAgent?: string;
  /** In-flight calls to this channel per worker (bulkhead). Default 16. */
  bulkhead?: number;
  /** Client certificate (mutual TLS), trusted CAs and server name for this funder's host. */
  tls?: ChannelTlsDefinition;
  /**
   * Merchant or app accounts held at this funder, by code, each with its own keys, values and
   * quotas. An instance gets one when it starts (see `accountSelection`) and keeps it for life.
   */
  accounts?: Record<string, AccountDefinition>;
  /**
   * How an instance gets its account: `first-match` (default), the first account in declaration
   * order whose `when` holds; `alternate`, among those, the one after the account the customer
   * used last on this channel.
   */
  accountSelection?: AccountSelection;
  /** Quotas of starts routed onto this channel by products, per behavior code. */
  quotas?: Record<string, QuotaLimits>;
  /**
   * Values announced ahead of time (a new key from the 1st, a new base URL from a given day):
   * each entry applies from its instant on every node, without a push.
   */
  future?: FutureValues[];
  /**
   * Charset of the funder's messages on the wire, e.g. `GBK`: requests are encoded in it once,
   * answers and notifications decoded in it, strictly. Default `UTF-8`.
   */
  charset?: string;
  description?: string;
  /** How long an instance may stay unsettled before it counts as stuck, for behaviors without their own. */
  sla?: Duration;
  /** When the funder takes calls: service windows, working days, the daily cut-off (日切). */
  calendar?: CalendarDefinition;
}

/**
 * A channel's business calendar, in its `timeZone`. Calls outside it wait for the next opening;
 * polls and the applying of callbacks' notifications are not held back unless `interfaces` says
 * so (notifications are always received and stored at once).
 */
export interface CalendarDefinition {
  /** Local service windows `HH:MM-HH:MM`, e.g. `00:30-23:30` (an end before the start crosses midnight). Default: all day. */
  serviceWindows?: string[];
  /** Closed on weekends and the holiday schedule's days off, open on its make-up working days. Default false. */
  workingDaysOnly?: boolean;
  /** The holiday schedule, by name: `cn` (mainland China) is built in. */
  holidays?: string;
  /**
   * The daily cut-off (日切), local `HH:MM`. At or before the day's first service-window opening
   * it ends the previous date's business day (`01:00-00:30` windows with `00:30`: Friday ends at
   * Saturday 00:30); later, its own date's (`protection/calendar/cutoff-day.ts`).
   */
  cutoff?: string;
  /**
   * A call still held back by the calendar at the cut-off: `roll` (default) waits for the next
   * opening; `expire` is not sent and parks its instance (`CALENDAR_CUTOFF_EXPIRED`).
   */
  atCutoff?: "roll" | "expire";
  /**
   * Interface -> the rules that apply to its calls and polls; callback -> the rules that apply to
   * applying its notifications. Default: every rule for calls, none for polls and callbacks.
   */
  interfaces?: Record<string, CalendarRule[]>;
}

export type CalendarRule = "serviceWindows" | "workingDays" | "cutoff";

/** Channel values that take effect at an instant, on top of the values before it. */
export interface FutureValues {
  /**
   * When: ISO 8601 with an offset (`2027-01-01T00:00:00+08:00`), or a date or local time in the
   * channel's `timeZone` (`2027-01-01` is midnight there).
   */
  effectiveFrom: string;
  /**
   * What changes, as a JSON merge patch of the channel (RFC 7396): objects merge key by key,
   * `null` removes a key, any other value (arrays too) replaces. Any field but `code`.
   */
  values: Record<string, unknown>;
  /**
   * How long after the switch messages that the new keys cannot open are still opened with the
   * previous ones (a notification signed just before midnight). Default `1h`; `0s` for a key
   * withdrawn because it leaked.
   */
  overlap?: Duration;
  description?: string;
}

export type AccountSelection = "first-match" | "alternate";

/** One merchant or app account at a funder (进件号, merchant id, app id). */
export interface AccountDefinition {
  description?: string;
  /** CEL over `input`: whether this account may serve the instance. Default: always. */
  when?: Expression;
  /** Values templates read as `{{account.<name>}}`: merchant id, app id, notify URL. */
  values?: Record<string, string>;
  /**
   * The account's own crypto settings: a JSON merge patch (RFC 7386) applied to the channel's
   * `crypto.options` (its keys, its app id field), so that only what differs is written.
   */
  crypto?: { options: Record<string, unknown> };
  /** The account's own TLS settings; replace the channel's. */
  tls?: ChannelTlsDefinition;
  /** Quotas of this account, per behavior code. */
  quotas?: Record<string, QuotaLimits>;
  /**
   * Calls in flight with this account, across its interfaces and all workers: the funder's limit
   * per merchant or app id. Applies on top of each interface's own `concurrency`.
   */
  concurrency?: number;
  /** Call rate with this account, across its interfaces and all workers (on top of each interface's). */
  rate?: RateLimit;
}

/**
 * How much may be started per day (in the channel's time zone) and in total. Amounts are decimal
 * strings (`"5000000.00"`), counted exactly; a start counts once and with the amount its
 * product's `amount` expression gives.
 */
export interface QuotaLimits {
  daily?: QuotaLimit;
  total?: QuotaLimit;
}

export interface QuotaLimit {
  /** Largest sum of amounts, a decimal string such as `"5000000.00"`. */
  amount?: string;
  /** Largest number of starts. */
  count?: number;
}

/**
 * TLS towards a funder. Connections are pooled per origin *and* per these settings, so two
 * channels on one host with different client certificates never share a connection.
 */
export interface ChannelTlsDefinition {
  /**
   * Private key presented to the funder (mutual TLS): a PEM key, or a PKCS#12 file holding the
   * key and its certificate chain (`format: "pkcs12"`, with a `password` reference).
   */
  clientKey?: { ref: SecretRef; format?: "pem" | "pkcs12"; password?: SecretRef };
  /** PEM certificate chain of a PEM `clientKey`, leaf first. */
  clientCertificate?: SecretRef;
  /** PEM CA certificates the funder's server certificate must chain to (replace the system CAs). */
  ca?: SecretRef[];
  /** Name the server certificate must carry, when it differs from the base URL's host. */
  serverName?: string;
}

/**
 * A template value: a JSON tree whose strings are Handlebars templates. A string that is exactly
 * one mustache (`"{{toCents amount}}"`) keeps the type of its value (number, boolean, object);
 * any other string renders to a string. Encoding happens after rendering, so a value can never
 * break the message syntax. For `text` bodies the value is one template string.
 */
export type TemplateValue =
  | string
  | number
  | boolean
  | null
  | TemplateValue[]
  | { [key: string]: TemplateValue };

export interface XmlOptions {
  /** Root element name. */
  root: string;
  /** Attributes of the root element (templates allowed). */
  attributes?: Record<string, string>;
  /** Keys whose text is wrapped in CDATA. */
  cdata?: string[];
  /** Emit an XML declaration (its encoding is the message's charset). Default true. */
  declaration?: boolean;
  /** Trim whitespace around element values when decoding. Default true; false when signatures cover values as sent. */
  trim?: boolean;
}

export interface MessageTemplate {
  format: BodyFormat;
  body?: TemplateValue;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  xml?: XmlOptions;
}

export interface ResponseDefinition {
  /** Default: the request format. */
  format?: BodyFormat;
  /** Fields to extract into the context, as CEL expressions over `body`, `headers`, `status`. */
  extract?: Record<string, Expression>;
}

export interface Route {
  /** CEL expression over `outcome`, `fields`, `body`, `context`, `input`. */
  when: Expression;
  to: string;
}

interface StepBase {
  kind: StepKind;
  description?: string;
  /**
   * Reaching this step proves the money moved (the funder confirmed a disbursement or a
   * repayment): the instance's quota is consumed here. Without it, a terminal `succeeded` step
   * consumes it.
   */
  moneyMoved?: boolean;
}

/** Steps an instance can stay at, so a stuck-order limit applies (every kind but `terminal`). */
interface WaitingStep {
  /** How long an instance may stay at this step before it counts as stuck (卡单). */
  sla?: Duration;
}

interface RoutedStep {
  routes?: Route[];
  /** Next step when no route matches. */
  otherwise?: string;
}

export interface CallStep extends StepBase, RoutedStep, WaitingStep {
  kind: "call";
  interface: string;
  request: MessageTemplate;
  response?: ResponseDefinition;
  /** Overrides the interface's `idempotent`. */
  idempotent?: boolean;
  retry?: RetryPolicy;
  /** Next step when the outcome is unknown and the call is not idempotent (normally a query). */
  onUnknownOutcome?: string;
  /** Next step when the retry schedule is used up. */
  onRetryExhausted?: string;
  /**
   * This request moves money (a disbursement, a repayment). No failover to another channel may
   * follow it, whatever its answer: the validator refuses a product whose failover could.
   */
  movesMoney?: boolean;
}

export interface PollStep extends StepBase, WaitingStep {
  kind: "poll";
  interface: string;
  request: MessageTemplate;
  response?: ResponseDefinition;
  /** Waits before each query; the first entry is the wait before the first query. */
  schedule: Duration[];
  /** Routes for settled answers; when none matches, polling continues. */
  routes: Route[];
  /** Next step when the schedule is used up (normally manual review, never a resend). */
  onExhausted: string;
  /**
   * Recovery after an unknown outcome: when `when` holds for an answer (the partner says the order
   * does not exist), resend the call `resend` with the serial of the attempt whose outcome was
   * unknown, no earlier than its interface's `deduplicatesSerial.grace` after that attempt was
   * sent. Only for calls whose interface declares `deduplicatesSerial`; otherwise the routes
   * decide (normally manual review).
   */
  onNotReceived?: { when: Expression; resend: string };
}

export interface CallbackStep extends StepBase, RoutedStep, WaitingStep {
  kind: "callback";
  /** Name of the channel callback to wait for. */
  callback: string;
  /** How long to wait for it. */
  deadline: Duration;
  /** Next step when the deadline passes (normally a query). */
  onDeadline: string;
  /** Optionally poll while waiting; whichever settles first wins. */
  poll?: Omit<
    PollStep,
    "kind" | "routes" | "onExhausted" | "onNotReceived" | "description" | "moneyMoved" | "sla"
  >;
}

export interface DelayStep extends StepBase, WaitingStep {
  kind: "delay";
  duration: Duration;
  next: string;
}

export interface DecideStep extends StepBase, RoutedStep, WaitingStep {
  kind: "decide";
  routes: Route[];
  otherwise: string;
}

export interface TerminalStep extends StepBase {
  kind: "terminal";
  outcome: TerminalOutcome;
  /**
   * Ending here proves the funder did not take the business (a declined application, a funder
   * that could not be reached): a product that allows failover moves the business to its next
   * eligible channel. Only on `failed` steps that no money-moving call leads to.
   */
  failover?: boolean;
}

export type StepDefinition =
  | CallStep
  | PollStep
  | CallbackStep
  | DelayStep
  | DecideStep
  | TerminalStep;

/** One kind of user action handled with one channel: a graph of steps. */
export interface BehaviorDefinition {
  $schema?: string;
  channel: string;
  code: string;
  /** Authoring version; the store assigns the stored version number on push. */
  version?: number;
  description?: string;
  initial: string;
  /** Step code -> step. */
  steps: Record<string, StepDefinition>;
  /** Personal fields of this behavior's input, masked in step logs (adds to the channel's). */
  masking?: MaskingRules;
  /**
   * JSON Schema (draft-07) of the input: `engine.start` refuses input that does not match
   * (`INSTANCE_INPUT_INVALID`, field by field) and stores nothing; `validate` checks that
   * templates and expressions read only the fields it declares.
   */
  inputSchema?: InputSchema;
  /**
   * How long an instance may stay unsettled before it counts as stuck (卡单). Default: the
   * channel's `sla`.
   */
  sla?: Duration /** A query whose answers are cached and shared by every node (see `CachedQueries`). */;
  cache?: QueryCacheDefinition;
}

export interface QueryCacheDefinition {
  /** CEL over `input` giving the cache key, e.g. `input.loanNo`. */
  key: Expression;
  /**
   * How long a succeeded answer is kept: `cutoff` (default), until the channel's next cut-off
   * (日切), local midnight without one, a working day's with `workingDaysOnly`; or a duration.
   */
  lifetime?: "cutoff" | Duration;
  /**
   * How long an answer that did not succeed (failed, cancelled, manual) is served again before the
   * next request runs the query anew, e.g. `30s`: a short negative cache, so a failing funder is not
   * asked again by every request of a peak. Default: not kept, the next request runs it again.
   */
  failures?: Duration;
}
