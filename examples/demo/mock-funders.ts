import type { Clock, Codec, CryptoHandler } from "@capflow/core";

export { type FaultKind, faultKinds } from "@capflow/testkit";

import type {
  CallbackSpec,
  Fault,
  FaultRule,
  MockFunder,
  RecordedRequest,
  ScriptedRequest,
} from "@capflow/testkit";
import type {
  BehaviorTraits,
  CallRole,
  CaseFault,
  CaseInput,
  FunderPlan,
  ScenarioCase,
} from "./scenario.ts";

/**
 * The fictional funders of the examples, played by the testkit's mock funder: each one keeps a
 * book of the orders it received (booked, refused, how often asked), answers from it in its own
 * spelling and crypto, sends its notifications, and misbehaves on the calls the scenario says.
 */

/** What a funder decided about one order, as its query endpoint reports it. */
export type OrderState = "notFound" | "processing" | "approved" | "declined";

/** The funder's memory of the scenario's orders. */
export class FunderBook {
  readonly #cases = new Map<string, ScenarioCase>();
  readonly #orders = new Map<string, { booked: boolean; refused: boolean; queries: number }>();
  readonly #firstCall = new Map<string, string>();

  constructor(cases: readonly ScenarioCase[]) {
    for (const scenarioCase of cases) {
      this.#cases.set(scenarioCase.key, scenarioCase);
      for (const alias of scenarioCase.aliases) this.#cases.set(alias, scenarioCase);
    }
  }

  /** Adds a case after the start (business the demo routes through a product, say). */
  add(scenarioCase: ScenarioCase): void {
    this.#cases.set(scenarioCase.key, scenarioCase);
    for (const alias of scenarioCase.aliases) this.#cases.set(alias, scenarioCase);
  }

  caseOf(key: string | undefined): ScenarioCase | undefined {
    return key === undefined ? undefined : this.#cases.get(key);
  }

  /** The plan of a call's case; a call the scenario does not know gets a plain approval. */
  planOf(key: string | undefined): FunderPlan {
    return this.caseOf(key)?.plan ?? defaultPlan;
  }

  /** Books an order (the apply call was processed); false when the funder refuses it. */
  book(key: string | undefined): { refused: boolean } {
    const plan = this.planOf(key);
    const order = this.#order(key);
    order.booked = true;
    order.refused = plan.refuseAtApply;
    return { refused: order.refused };
  }

  /** What a query says now; each query of a booked order counts toward its processing polls. */
  query(key: string | undefined): OrderState {
    const order = this.#order(key);
    if (!order.booked) return "notFound";
    if (order.refused) return "declined";
    const plan = this.planOf(key);
    order.queries++;
    if (plan.decision === "never" || order.queries <= plan.processingPolls) return "processing";
    return plan.decision === "approve" ? "approved" : "declined";
  }

  /**
   * Whether this request is the first call of its role for its case. Stable however often it is
   * asked about one request (fault rules may be checked more than once).
   */
  isFirstCall(request: ScriptedRequest, role: CallRole): boolean {
    const id = `${role}\u0000${this.caseOf(request.businessKey)?.key ?? request.businessKey}`;
    const call = `${request.endpoint}#${request.call}`;
    const first = this.#firstCall.get(id);
    if (first === undefined) this.#firstCall.set(id, call);
    return first === undefined || first === call;
  }

  #order(key: string | undefined) {
    const id = this.caseOf(key)?.key ?? key ?? "";
    let order = this.#orders.get(id);
    if (order === undefined) {
      order = { booked: false, refused: false, queries: 0 };
      this.#orders.set(id, order);
    }
    return order;
  }
}

const defaultPlan: FunderPlan = {
  decision: "approve",
  refuseAtApply: false,
  processingPolls: 0,
  notify: true,
  progressNotice: false,
  nothingDue: false,
};

/**
 * The fault rules of one call role: each case's fault on its first call of that role (every call,
 * for latency). `roleOf` tells the role of a request when one endpoint serves several.
 */
export function faultRulesFor(
  book: FunderBook,
  cases: readonly ScenarioCase[],
  role: CallRole,
  roleOf: (request: ScriptedRequest) => CallRole = () => role,
): FaultRule[] {
  const distinct = new Map<string, CaseFault>();
  for (const { plan } of cases) {
    if (plan.fault?.on === role) distinct.set(JSON.stringify(plan.fault), plan.fault);
  }
  return [...distinct.entries()].map(([signature, fault]) => ({
    fault: toKitFault(fault),
    when: (request: ScriptedRequest) => {
      if (roleOf(request) !== role) return false;
      const planned = book.caseOf(request.businessKey)?.plan.fault;
      if (planned === undefined || JSON.stringify(planned) !== signature) return false;
      return fault.kind === "latency" || book.isFirstCall(request, role);
    },
  }));
}

function toKitFault(fault: CaseFault): Fault {
  switch (fault.kind) {
    case "latency":
      return { kind: "latency", ms: fault.ms };
    case "httpError":
      return { kind: "httpError", status: fault.status };
    case "duplicateCallbacks":
      return { kind: "duplicateCallbacks", copies: 3 };
    default:
      return { kind: fault.kind };
  }
}

/** The notifications a processed apply triggers: optional progress notice, then the result. */
export function notificationsFor(
  plan: FunderPlan,
  build: (state: "processing" | "approved" | "declined", sequence: number) => CallbackSpec,
): CallbackSpec[] {
  if (!plan.notify || plan.decision === "never" || plan.refuseAtApply) return [];
  const final = build(plan.decision === "approve" ? "approved" : "declined", 2);
  if (!plan.progressNotice) return [final];
  return [build("processing", 1), final];
}

/** Delays of notifications, in the demo clock's milliseconds. */
export const notificationDelayMs = { progress: 500, final: 1_500 } as const;

/** What a funder module gives the demo. */
export interface FunderProfile {
  /** The example's folder: its `definitions/`, `keys/` and optional `processors.ts`. */
  readonly dir: string;
  readonly channel: string;
  /** The behaviors the scenario runs, with their relative share of cases. */
  readonly behaviors: readonly (BehaviorTraits & { readonly share?: number })[];
  /** A case's input in the example's own field names. */
  inputFor(traits: BehaviorTraits, key: string, plan: FunderPlan): CaseInput;
  /** Starts the mock funder for these cases. */
  startMock(context: FunderContext): Promise<MockFunder>;
  /**
   * The calls that move money and are not idempotent, per behavior: the funder must receive at
   * most one per business record, whatever happens.
   */
  readonly moneyCalls: Readonly<Record<string, (request: RecordedRequest) => boolean>>;
  /**
   * A query behavior of the example's definitions that declares a `cache` (a repayment trial),
   * which the demo asks in a burst after the run: its input for one of the run's cases, or
   * undefined for a case it does not fit.
   */
  readonly cachedQuery?: {
    readonly behavior: string;
    /** The interface its call goes to, whose limit the demo tightens to show the limiter at work. */
    readonly interface: string;
    inputFor(scenarioCase: ScenarioCase): Record<string, unknown> | undefined;
  };
}

export interface FunderContext {
  readonly cases: readonly ScenarioCase[];
  readonly book: FunderBook;
  /** The funder's side of the channel's crypto, with the funder's keys and the demo clock. */
  readonly handler: CryptoHandler;
  readonly clock: Clock;
  readonly seed: number;
}

/** A codec that reads XML or form bodies (Meadow sends both to one gateway URL). */
export function sniffingCodec(form: Codec, xml: Codec): Codec {
  return {
    format: form.format,
    contentType: form.contentType,
    encode: (value, options) => form.encode(value, options),
    decode: (text, options) =>
      text.trimStart().startsWith("<") ? xml.decode(text, options) : form.decode(text, options),
  };
}
