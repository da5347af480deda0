/**
 * @capflow/testkit — a mock funder to test a channel end to end, over real HTTP on loopback.
 *
 * The mock plays the funder with the funder's side of the channel's crypto scheme: it opens the
 * engine's requests, answers from scripts, sends callbacks with retries, misbehaves on demand
 * (latency, timeouts after processing, connection resets, 5xx, malformed or badly signed answers,
 * duplicate, out-of-order or early callbacks), and records every call for assertions.
 *
 * ```ts
 * import { accept, byField, processingThen, startMockFunder, withCallbacks } from "@capflow/testkit";
 *
 * const funder = await startMockFunder({
 *   handler: funderSideHandler, // the channel's scheme with the funder's keys
 *   codec: jsonCodec,
 *   businessKey: byField("loanNo"),
 *   callbacks: { url: `${engineUrl}/callbacks/demo`, attempts: 3, intervalMs: 100 },
 *   endpoints: {
 *     "POST /loan/apply": {
 *       answer: withCallbacks(accept(), (call) => ({ body: { loanNo: call.businessKey, status: "SUCCESS" } })),
 *       faults: [{ fault: { kind: "timeoutAfterProcessing" }, calls: [1] }],
 *     },
 *     "POST /loan/query": { answer: processingThen(2, accept()) },
 *   },
 * });
 * // … point the channel's baseUrl at funder.url, run the engine …
 * expect(funder.countBy("L001", { path: "/loan/apply" })).toBe(1);
 * await funder.close();
 * ```
 *
 * Port contract suites for adapters are in `@capflow/testkit/contracts`.
 */
export {
  createMockFunder,
  MockFunder,
  type CallbackCounts,
  type CallbackFilter,
  type MockFunderOptions,
  startMockFunder,
} from "./mock-funder.ts";
export type {
  EndpointAnswer,
  EndpointOptions,
  EndpointScript,
  ScriptedRequest,
} from "./endpoint.ts";
export {
  accept,
  type AnswerFields,
  type AnswerShapes,
  createScriptHelpers,
  defaultAnswerShapes,
  processing,
  processingThen,
  reject,
  type ScriptHelpers,
  sequence,
  withCallbacks,
} from "./endpoint-scripts.ts";
export { type BusinessKeyExtractor, bodyField, byField } from "./business-key.ts";
export { createFunderCryptoHandler } from "./funder-crypto.ts";
export type { PartnerKeySet } from "@capflow/core/internal";
export { type Fault, type FaultKind, type FaultRule, faultKinds } from "./faults.ts";
export { type RandomSource, seededRandom } from "./seeded-random.ts";
export { tamperWithSignature } from "./wire-tampering.ts";
export {
  type IssuedCertificate,
  type IssueOptions,
  TestCertificateAuthority,
} from "./test-certificates.ts";
export type {
  CallbackAcknowledgement,
  CallbackAttempt,
  CallbackDelivery,
  CallbackDeliveryState,
  CallbackOptions,
  CallbackSpec,
} from "./callback-sender.ts";
export type {
  RecordedRequest,
  RequestFilter,
  RequestOutcome,
} from "./request-recorder.ts";
export {
  type CallbackConfig,
  type EndpointConfig,
  type FaultConfig,
  type MockFunderConfig,
  mockFunderOptionsFromConfig,
  type ScriptConfig,
} from "./config.ts";
