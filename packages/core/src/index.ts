/**
 * @capflow/core — funder integrations as configuration.
 *
 * ```ts
 * import { loadDefinitions } from "@capflow/core";
 *
 * const { channels, behaviors, problems } = await loadDefinitions("./definitions");
 * ```
 */
export {
  CapflowError,
  type CapflowErrorOptions,
  type ErrorCode,
  type ErrorContext,
  errorCodes,
  isCapflowError,
} from "./errors.ts";
export { Redacted } from "./redacted.ts";
export { canonicalJson } from "./canonical-json.ts";

// definition
export type * from "./definition/types.ts";
export {
  type BehaviorGraph,
  type BehaviorGraphAttributes,
  buildBehaviorGraph,
  type StepEdgeAttributes,
  type StepNodeAttributes,
} from "./definition/behavior-graph.ts";
export { fromPointer, toPointer } from "./definition/json-pointer.ts";
export {
  definitionSchema,
  type DefinitionKind,
  isBehaviorDefinition,
  isChannelDefinition,
} from "./definition/json-schema.ts";
export {
  type ParsedJsonSource,
  type PositionLocator,
  parseJsonSource,
  type SourcePosition,
} from "./definition/json-source.ts";
export {
  behaviorFileSuffix,
  channelFileSuffix,
  type LoadDefinitionsOptions,
  loadDefinitions,
  loadDefinitionsOrThrow,
} from "./definition/load-definitions.ts";
export {
  formatProblems,
  type Problem,
  type ProblemCode,
  problemCodes,
  sortProblems,
} from "./definition/problem.ts";
export type { KnownCryptoHandlers, KnownProcessors } from "./definition/registries.ts";
export { type RenderGraphOptions, renderDot, renderMermaid } from "./definition/render-graph.ts";
export {
  type StepTransition,
  stepTransitions,
  type TransitionKind,
  waitingStepKinds,
} from "./definition/step-transitions.ts";
export {
  scanTemplateProcessors,
  type TemplateProcessorUse,
  type TemplateScan,
} from "./definition/template-processors.ts";
export {
  type DefinitionSet,
  type DefinitionDocument,
  type DefinitionDocuments,
  type ValidateDefinitionsOptions,
  validateDefinitions,
} from "./definition/validate-definitions.ts";

// message
export type { Codec, CodecOptions } from "./message/codec.ts";
export type * from "./message/processor-types.ts";
export {
  ProcessorRegistry,
  type RegisteredProcessor,
  type RegisterOptions,
} from "./message/processor-registry.ts";
export { processor } from "./message/processor-decorator.ts";
export {
  builtinProcessors,
  registerBuiltinProcessors,
} from "./message/builtin-processors/register-builtin-processors.ts";
export type { BuiltinProcessor } from "./message/builtin-processors/builtin-processor.ts";
export type { RenderOptions, RenderScope } from "./message/render-session.ts";
export {
  compiledTemplateFor,
  renderCompiledMessage,
  renderMessage,
  type RenderMessageOptions,
} from "./message/render-message.ts";
export {
  CompiledMessageTemplate,
  type RenderedMessage,
} from "./message/compile-message-template.ts";
export { codecFor } from "./message/codecs/codec-for.ts";
export { jsonCodec } from "./message/codecs/json-codec.ts";
export { xmlCodec } from "./message/codecs/xml-codec.ts";
export { formCodec } from "./message/codecs/form-codec.ts";
export { textCodec } from "./message/codecs/text-codec.ts";
export {
  checkExpression,
  type CompiledExpression,
  evaluateExpression,
  type ExpressionCheck,
  parseExpression,
} from "./message/cel.ts";
export { type ExtractionEnv, extractFields } from "./message/extract-fields.ts";
export { applyStatusTable, type PartnerStatus } from "./message/status-table.ts";
export { type ChosenRoute, chooseRoute, findRoute, type RouteEnv } from "./message/choose-route.ts";
export {
  maskBankCard,
  maskEmail,
  maskFields,
  maskFull,
  maskIdCard,
  maskName,
  maskPhone,
  maskValue,
} from "./message/mask.ts";

// crypto
export type * from "./crypto/handler.ts";
export {
  type CryptoHandlerCatalog,
  type CryptoHandlerDeps,
  type CryptoHandlerFactory,
  type CryptoOptionProblem,
  CryptoHandlerRegistry,
  createCryptoHandlerRegistry,
} from "./crypto/handler-registry.ts";
export { plainCryptoHandler } from "./crypto/plain-handler.ts";
export {
  configurableCryptoHandler,
  createConfigurableHandler,
} from "./crypto/configurable/configurable-handler.ts";
export type * from "./crypto/configurable/options.ts";
export type { BinaryEncoding } from "./crypto/encoding.ts";
export { validateConfigurableOptions } from "./crypto/configurable/validate-options.ts";
export {
  mirrorCryptoDefinition,
  mirrorCryptoOptions,
  type PartnerKeySet,
} from "./crypto/configurable/mirror.ts";
export {
  createCompositeSecretResolver,
  createDefaultSecretResolver,
  createEnvSecretResolver,
  createFileSecretResolver,
  createInlineSecretResolver,
  type DefaultSecretResolverOptions,
} from "./crypto/secret-resolvers.ts";
export { unwrapPkcs1v15 } from "./crypto/pkcs1-unwrap.ts";
export { defaultSm2UserId } from "./crypto/signers/sm2-signer.ts";

// ports
export type { Clock } from "./ports/clock.ts";
export type * from "./ports/definition-source.ts";
export type * from "./ports/instance-store.ts";
export { isSettled, settledStatuses } from "./ports/instance-store.ts";
export type * from "./ports/limiter.ts";
export type * from "./ports/lock-provider.ts";
export type { SecretResolveOptions, SecretResolver } from "./ports/secret-resolver.ts";
export type * from "./ports/transport.ts";

// transport
export {
  classifyTransportError,
  UndiciTransport,
  type UndiciTransportOptions,
} from "./transport/undici-transport.ts";

// in-memory adapters
export { InProcessLimiter } from "./memory/in-process-limiter.ts";
export { InProcessLockProvider } from "./memory/in-process-lock-provider.ts";
export { ManualClock } from "./memory/manual-clock.ts";
export { MemoryDefinitionSource } from "./memory/memory-definition-source.ts";
export { MemoryInstanceStore } from "./memory/memory-instance-store.ts";
export { systemClock } from "./memory/system-clock.ts";

// flow control
export {
  type BreakerSettings,
  type BreakerState,
  type CallOutcome,
  defaultBreakerSettings,
} from "./runtime/flow-control/circuit-breaker.ts";
export {
  FlowControl,
  type FlowControlOptions,
  type FlowEntry,
  type FlowEvent,
  type FlowRejectionReason,
  type FlowRequest,
  type FlowTicket,
} from "./runtime/flow-control/flow-control.ts";
export { defaultBulkhead, flowRequestFor } from "./runtime/flow-control/flow-request.ts";
export { currentLock, type WithLockOptions, withLock } from "./runtime/with-lock.ts";

// engine
export { BehaviorMachine, type MachineSnapshot } from "./engine/behavior-machine.ts";
export {
  type CallbackListenerOptions,
  callbackRequestListener,
} from "./engine/callback-listener.ts";
export type { CallbackPayload } from "./engine/callback-payload.ts";
export {
  type Actor,
  createEngine,
  Engine,
  type EngineOptions,
  type StartRequest,
} from "./engine/engine.ts";
export type { AttentionReason, EngineEvent, EngineEventListener } from "./engine/engine-events.ts";
export type { CallbackAcknowledgement, InboundHttpRequest } from "./engine/receive-callback.ts";
export {
  lateConflictCode,
  type SweepInboxOptions,
  type SweepInboxResult,
} from "./engine/sweep-inbox.ts";
export { Worker, type WorkerOptions } from "./runtime/worker.ts";
export { parseDuration } from "./definition/duration.ts";
