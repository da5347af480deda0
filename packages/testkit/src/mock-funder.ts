import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  type Clock,
  type Codec,
  type CryptoHandler,
  type OpenedMessage,
  systemClock,
  type WireRequest,
  type WireResponse,
} from "@capflow/core";
import { defaultCharset, encodeText, withCharset } from "@capflow/core/internal";
import type { BusinessKeyExtractor } from "./business-key.ts";
import {
  type CallbackDelivery,
  type CallbackDeliveryState,
  type CallbackOptions,
  CallbackSender,
  type CallbackSpec,
} from "./callback-sender.ts";
import { describeError } from "./describe-error.ts";
import {
  type EndpointOptions,
  endpointKey,
  parseEndpointKey,
  type ScriptedRequest,
} from "./endpoint.ts";
import { toScript } from "./endpoint-scripts.ts";
import {
  arrangeCallbacks,
  chooseFault,
  type Fault,
  type FaultRule,
  faultLetsCallBeProcessed,
} from "./faults.ts";
import { readWireRequest } from "./read-wire-request.ts";
import {
  type MutableRecordedRequest,
  type RecordedRequest,
  type RequestFilter,
  RequestRecorder,
} from "./request-recorder.ts";
import { deriveSeed, type RandomSource, seededRandom } from "./seeded-random.ts";

import { spoilSealedAnswer } from "./wire-tampering.ts";

export interface MockFunderOptions {
  /**
   * The funder's side of the channel's crypto scheme, with the funder's keys: it opens the
   * engine's requests, seals the answers, and seals the callbacks.
   */
  readonly handler: CryptoHandler;
  /** Format of requests, answers and callbacks (an endpoint or a callback may use another). */
  readonly codec: Codec;
  /** Format of answers, for funders that answer in another format than they are asked in. */
  readonly answerCodec?: Codec;
  /** Charset of requests, answers and callbacks on the wire (GBK banks). Default UTF-8. */
  readonly charset?: string;
  /** Endpoints keyed by method and path: `{ "POST /loan/apply": { answer: accept() } }`. */
  readonly endpoints: Readonly<Record<string, EndpointOptions>>;
  /** Finds the business key of a call, for endpoints without their own extractor. */
  readonly businessKey?: BusinessKeyExtractor;
  readonly callbacks?: CallbackOptions;
  /** Seed of the generator behind probabilistic faults. Default 0x5eed. */
  readonly seed?: number;
  /** Default `127.0.0.1`: the mock serves loopback only. */
  readonly host?: string;
  /** Default 0: a free port, reported by `start()` and `url`. */
  readonly port?: number;
  /** Time for delays, retries and records. Default: real time. */
  readonly clock?: Clock;
  /**
   * Serve HTTPS with this key and certificate (see `TestCertificateAuthority`). With `clientCa`,
   * the mock requires a client certificate issued by it (mutual TLS) and records its common name.
   */
  readonly tls?: { readonly key: string; readonly cert: string; readonly clientCa?: string };
}

/** Selects callback deliveries; every given field must match. */
export interface CallbackFilter {
  readonly name?: string;
  readonly state?: CallbackDeliveryState;
  /** `seq` of the recorded request that triggered them. */
  readonly triggeredBy?: number;
}

export interface CallbackCounts {
  /** Deliveries scheduled (duplicates count separately). */
  readonly scheduled: number;
  /** Attempts made, over all deliveries. */
  readonly attempts: number;
  /** Deliveries the engine answered at least once (whatever it answered). */
  readonly delivered: number;
  readonly acknowledged: number;
  /** Deliveries that ran out of attempts unacknowledged. */
  readonly exhausted: number;
}

/** One HTTP exchange being handled. */
interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly record: MutableRecordedRequest;
  /** Set by `timeoutAfterProcessing`: the mock never answers and waits for the client to leave. */
  held: boolean;
}

/**
 * A fictional funder on loopback HTTP, for testing a channel end to end: it opens the engine's
 * requests with the funder's side of the crypto scheme, answers from scripts, sends callbacks
 * with retries, misbehaves on demand, and records everything for assertions.
 *
 * Longer than most files on purpose: every request passes one pipeline (open, fault, script,
 * seal, record) and keeping it in one class shows the order faults are applied in; the parts that
 * stand alone (scripts, faults, callbacks, crypto, the recorder) have their own files.
 */
export class MockFunder {
  /** The seed of probabilistic faults; print it when a test fails to replay the same run. */
  readonly seed: number;
  readonly #options: MockFunderOptions;
  readonly #endpoints = new Map<string, EndpointOptions>();
  readonly #clock: Clock;
  readonly #recorder = new RequestRecorder();
  readonly #callbacks: CallbackSender;
  readonly #injectedFaults = new Map<string, FaultRule[]>();
  readonly #randomByEndpoint = new Map<string, RandomSource>();
  readonly #sockets = new Set<Socket>();
  /** Calls being handled, and exchanges whose response has not closed yet: `close()` waits for both. */
  readonly #handling = new Set<Promise<void>>();
  readonly #exchangesOpen = new Set<Promise<void>>();
  #lifetime = new AbortController();
  #server: Server | undefined;
  #url: string | undefined;

  constructor(options: MockFunderOptions) {
    this.#options = options;
    this.seed = options.seed ?? 0x5eed;
    this.#clock = options.clock ?? systemClock;
    for (const [key, endpoint] of Object.entries(options.endpoints)) {
      const { method, path } = parseEndpointKey(key);
      this.#endpoints.set(endpointKey(method, path), endpoint);
    }
    this.#callbacks = new CallbackSender(options.handler, options.codec, this.#clock, {
      ...(options.charset === undefined ? {} : { charset: options.charset }),
      ...options.callbacks,
    });
  }

  /** The base URL, e.g. `http://127.0.0.1:49731`; use it as the channel's `baseUrl`. */
  get url(): string {
    if (this.#url === undefined) throw new Error("The mock funder is not started: await start().");
    return this.#url;
  }

  /** Listens on loopback and resolves with the base URL. */
  async start(): Promise<string> {
    if (this.#url !== undefined) return this.#url;
    const tls = this.#options.tls;
    const accept = (request: IncomingMessage, response: ServerResponse) =>
      this.#accept(request, response);
    const server: Server =
      tls === undefined
        ? createServer(accept)
        : createHttpsServer(
            {
              key: tls.key,
              cert: tls.cert,
              ...(tls.clientCa === undefined
                ? {}
                : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
            },
            accept,
          );
    // Idle connections are left to the client to close (no idle timeout, so no `Keep-Alive:
    // timeout` hint either: capflow's transport closes its own after 4 s). With Node's default of
    // 5 s, a process whose event loop is starved can send a POST on a connection the mock has just
    // closed: a reset the mock never saw, which the engine rightly treats as an unknown outcome.
    server.keepAliveTimeout = 0;
    server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    const host = this.#options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    const { port } = server.address() as AddressInfo;
    const scheme = tls === undefined ? "http" : "https";
    this.#url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return this.#url;
  }

  /**
   * Stops everything: listening, held and idle connections, calls being handled, pending
   * callbacks and their timers. Nothing of the mock is left running when it resolves.
   */
  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#url = undefined;
    this.#lifetime.abort(new Error("mock funder closed"));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await this.#callbacks.cancelAll();
    await Promise.allSettled([...this.#handling, ...this.#exchangesOpen]);
    await closed;
    this.#lifetime = new AbortController();
  }

  /**
   * Forgets recorded calls and callbacks, call numbers (`n` restarts at 1), faults added with
   * `injectFault`, and replays the seeded generator from the start; cancels pending callbacks.
   * Calls in flight finish normally.
   */
  async reset(): Promise<void> {
    this.#recorder.clear();
    this.#injectedFaults.clear();
    this.#randomByEndpoint.clear();
    const cancelled = this.#callbacks.cancelAll();
    this.#callbacks.clearRecords();
    await cancelled;
  }

  /**
   * Adds a fault rule to an endpoint (`"POST /loan/apply"`), checked before the endpoint's own
   * rules, until `reset()`: `mock.injectFault("POST /loan/apply", { fault: { kind: "resetAfterProcessing" }, calls: [1] })`.
   */
  injectFault(endpoint: string, rule: FaultRule): void {
    const { method, path } = parseEndpointKey(endpoint);
    const key = endpointKey(method, path);
    if (!this.#endpoints.has(key)) {
      throw new Error(`The mock funder has no endpoint "${key}" to inject a fault into.`);
    }
    this.#injectedFaults.set(key, [...(this.#injectedFaults.get(key) ?? []), rule]);
  }

  /** Every call received, in order of arrival. */
  requests(filter?: RequestFilter): RecordedRequest[] {
    return this.#recorder.requests(filter);
  }

  /** How many calls carried this business key: `expect(mock.countBy("L001", { path: "/loan/apply" })).toBe(1)`. */
  countBy(businessKey: string, filter?: RequestFilter): number {
    return this.#recorder.countBy(businessKey, filter);
  }

  /** Calls per business key. */
  countsByBusinessKey(filter?: RequestFilter): Map<string, number> {
    return this.#recorder.countsByBusinessKey(filter);
  }

  /** Calls being handled now, for one endpoint (`"POST /loan/apply"`) or overall. */
  inFlight(endpoint?: string): number {
    return this.#recorder.inFlight(endpoint);
  }

  /** The most calls handled at once since start or reset, for one endpoint or overall. */
  maxInFlight(endpoint?: string): number {
    return this.#recorder.maxInFlight(endpoint);
  }

  /** Where callbacks go, when the engine's callback server starts after the mock. */
  setCallbackUrl(url: string): void {
    this.#callbacks.setUrl(url);
  }

  /** Sends a callback now (after `spec.delayMs`); resolves when acknowledged or out of attempts. */
  sendCallback(spec: CallbackSpec): Promise<CallbackDelivery> {
    return this.#callbacks.schedule(spec).done;
  }

  /** Every callback delivery, in scheduling order, with its attempts. */
  callbacks(filter: CallbackFilter = {}): CallbackDelivery[] {
    return this.#callbacks
      .deliveries()
      .filter(
        (delivery) =>
          (filter.name === undefined || delivery.name === filter.name) &&
          (filter.state === undefined || delivery.state === filter.state) &&
          (filter.triggeredBy === undefined || delivery.triggeredBy === filter.triggeredBy),
      );
  }

  callbackCounts(): CallbackCounts {
    const deliveries = this.#callbacks.deliveries();
    const count = (test: (delivery: CallbackDelivery) => boolean) => deliveries.filter(test).length;
    return {
      scheduled: deliveries.length,
      attempts: deliveries.reduce((sum, delivery) => sum + delivery.attempts.length, 0),
      delivered: count((delivery) => delivery.attempts.some((a) => a.status !== undefined)),
      acknowledged: count((delivery) => delivery.state === "acknowledged"),
      exhausted: count((delivery) => delivery.state === "exhausted"),
    };
  }

  /** Resolves once every callback scheduled so far is acknowledged, exhausted or cancelled. */
  callbacksSettled(): Promise<void> {
    return this.#callbacks.settled();
  }

  #accept(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://mock.invalid");
    const key = endpointKey(request.method ?? "GET", url.pathname);
    const endpoint = this.#endpoints.get(key);
    const record = this.#recorder.record({
      at: this.#clock.now(),
      endpoint: endpoint === undefined ? undefined : key,
      method: request.method ?? "GET",
      path: url.pathname,
      headers: {},
      query: Object.fromEntries(url.searchParams),
      clientCertificate: clientCommonName(request),
      body: undefined,
      businessKey: undefined,
      n: undefined,
      fault: undefined,
      status: undefined,
      error: undefined,
    });
    const exchange: Exchange = { request, response, record, held: false };
    this.#recorder.enter(record.endpoint);
    // "close" comes once per response: after the answer is written, or when the connection ends
    // first (the client gave up, a reset, the mock closed). It ends the call's time in flight.
    let exchangeClosed: () => void = () => {};
    const exchangeOpen = new Promise<void>((resolve) => {
      exchangeClosed = resolve;
    });
    this.#exchangesOpen.add(exchangeOpen);
    response.on("close", () => {
      this.#exchangesOpen.delete(exchangeOpen);
      exchangeClosed();
      this.#recorder.leave(record.endpoint);
      if (record.outcome === "pending") {
        record.outcome = response.writableFinished
          ? "answered"
          : exchange.held
            ? "held"
            : "clientGaveUp";
        record.finishedAt = this.#clock.now();
      }
    });
    const signal = this.#lifetime.signal;
    const handling = this.#handle(exchange, endpoint, signal).catch((error: unknown) => {
      if (signal.aborted) return;
      record.error = describeError(error);
      if (response.headersSent) response.destroy();
      else this.#writePlain(exchange, 500, `mock funder failed: ${record.error}`);
    });
    this.#handling.add(handling);
    void handling.finally(() => this.#handling.delete(handling));
  }

  /** One call: read and open it, pick its fault, process it, answer (or misbehave). */
  async #handle(
    exchange: Exchange,
    endpoint: EndpointOptions | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const received = await this.#receive(exchange, endpoint);
    if (received === undefined || endpoint === undefined) return;
    const { call, opened } = received;
    const { record } = exchange;

    const fault = chooseFault(
      [...(this.#injectedFaults.get(call.endpoint) ?? []), ...(endpoint.faults ?? [])],
      call,
      this.#randomFor(call.endpoint),
    );
    record.fault = fault?.kind;
    const latencyMs = (endpoint.latencyMs ?? 0) + (fault?.kind === "latency" ? fault.ms : 0);
    // The funder keeps working even if the client gives up meanwhile, as real servers do.
    if (latencyMs > 0) await this.#clock.sleep(latencyMs, signal);

    if (!faultLetsCallBeProcessed(fault)) {
      this.#answerWithFault(exchange, fault);
      return;
    }
    const answer = await toScript(endpoint.answer)(call);
    record.processed = true;
    await this.#sendCallbacks(answer.callbacks ?? [], fault, record.seq);
    if (this.#answerWithFault(exchange, fault)) return;

    const sealed = await this.#options.handler.sealResponse(
      {
        status: answer.status ?? 200,
        headers: { ...answer.headers },
        body: answer.body,
        codec:
          endpoint.answerCodec ??
          endpoint.codec ??
          this.#options.answerCodec ??
          this.#options.codec,
        ...(this.#options.charset === undefined ? {} : { charset: this.#options.charset }),
      },
      opened,
    );
    this.#write(exchange, spoilSealedAnswer(sealed, fault));
  }

  /**
   * Reads the call, finds its endpoint and opens it with the funder's handler; turns it away (404,
   * 400) when either fails. Counts it and records what the funder read.
   */
  async #receive(
    exchange: Exchange,
    endpoint: EndpointOptions | undefined,
  ): Promise<{ call: ScriptedRequest; opened: OpenedMessage } | undefined> {
    const { record } = exchange;
    let wire: WireRequest;
    try {
      wire = await readWireRequest(exchange.request, this.#options.charset);
    } catch (error) {
      record.error = `request not read: ${describeError(error)}`;
      this.#writePlain(exchange, 400, `mock funder: ${record.error}`);
      return undefined;
    }
    record.headers = wire.headers;
    if (endpoint === undefined || record.endpoint === undefined) {
      record.error = `no endpoint "${wire.method} ${wire.path}"`;
      this.#writePlain(exchange, 404, `mock funder: ${record.error}`);
      return undefined;
    }
    let opened: OpenedMessage;
    try {
      opened = await this.#options.handler.openRequest(wire, endpoint.codec ?? this.#options.codec);
    } catch (error) {
      // What a funder does with a request it cannot verify: turn it away, unprocessed.
      record.error = `request not opened: ${describeError(error)}`;
      this.#writePlain(exchange, 400, `mock funder: ${record.error}`);
      return undefined;
    }
    const read = {
      endpoint: record.endpoint,
      method: wire.method,
      path: wire.path,
      headers: wire.headers,
      query: wire.query,
      body: opened.body,
      text: opened.text,
    };
    const businessKey = (endpoint.businessKey ?? this.#options.businessKey)?.(read);
    const { call, n } = this.#recorder.countCall(record.endpoint, businessKey);
    record.body = opened.body;
    record.businessKey = businessKey;
    record.n = n;
    return { call: { ...read, businessKey, n, call }, opened };
  }

  /** Applies a fault that replaces the answer; false when the call is to be answered normally. */
  #answerWithFault(exchange: Exchange, fault: Fault | undefined): boolean {
    switch (fault?.kind) {
      case "timeoutAfterProcessing":
        exchange.held = true;
        return true;
      case "resetBeforeProcessing":
      case "resetAfterProcessing":
        this.#resetConnection(exchange);
        return true;
      case "httpError":
        this.#writePlain(exchange, fault.status ?? 503, fault.body ?? "Service Unavailable");
        return true;
      default:
        return false;
    }
  }

  async #sendCallbacks(
    callbacks: readonly CallbackSpec[],
    fault: Fault | undefined,
    triggeredBy: number,
  ): Promise<void> {
    let previous: Promise<void> = Promise.resolve();
    for (const { spec, copy } of arrangeCallbacks(callbacks, fault)) {
      const scheduled = this.#callbacks.schedule(spec, { triggeredBy, copy, after: previous });
      previous = scheduled.firstAttempt;
    }
    if (fault?.kind === "callbackBeforeResponse") await previous;
  }

  #resetConnection(exchange: Exchange): void {
    const { record, request } = exchange;
    if (record.outcome === "pending") {
      record.outcome = "reset";
      record.finishedAt = this.#clock.now();
    }
    // RST rather than FIN: the client sees ECONNRESET, as when a funder's gateway drops the call.
    if (!request.socket.destroyed) request.socket.resetAndDestroy();
  }

  #writePlain(exchange: Exchange, status: number, text: string): void {
    this.#write(exchange, {
      status,
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: text,
    });
  }

  #write(exchange: Exchange, answer: WireResponse): void {
    const { response, record } = exchange;
    // The client may have given up while the funder worked; there is no one to answer.
    if (response.destroyed || response.headersSent) return;
    record.status = answer.status;
    const charset = answer.charset ?? defaultCharset;
    const bytes = encodeText(answer.body, charset);
    const headers: Record<string, string> = {
      ...answer.headers,
      "content-length": String(bytes.length),
    };
    const contentType = headers["content-type"];
    if (contentType !== undefined) headers["content-type"] = withCharset(contentType, charset);
    response.writeHead(answer.status, headers);
    response.end(bytes);
  }

  #randomFor(endpoint: string): RandomSource {
    let random = this.#randomByEndpoint.get(endpoint);
    if (random === undefined) {
      random = seededRandom(deriveSeed(this.seed, endpoint));
      this.#randomByEndpoint.set(endpoint, random);
    }
    return random;
  }
}

/** Creates a mock funder; call `start()` before use and `close()` after. */
export function createMockFunder(options: MockFunderOptions): MockFunder {
  return new MockFunder(options);
}

/** Creates and starts a mock funder. */
export async function startMockFunder(options: MockFunderOptions): Promise<MockFunder> {
  const mock = new MockFunder(options);
  await mock.start();
  return mock;
}

/** Common name of the verified client certificate of an HTTPS request (mutual TLS). */
function clientCommonName(request: IncomingMessage): string | undefined {
  const socket = request.socket as Partial<TLSSocket>;
  if (socket.getPeerCertificate === undefined || socket.authorized !== true) return undefined;
  const commonName = socket.getPeerCertificate().subject?.CN;
  return Array.isArray(commonName) ? commonName[0] : commonName;
}
