/**
 * @capflow/core — funder integrations as configuration: the definition model, the message
 * pipeline, crypto handlers, the engine and its worker, the ports adapters implement, and
 * in-memory adapters. Every export here is documented in docs/api.md; what sibling packages
 * share beyond this is in `@capflow/core/internal`, with no compatibility promise.
 *
 * ```ts
 * import { createEngine, loadDefinitionsOrThrow, MemoryDefinitionSource } from "@capflow/core";
 *
 * const definitions = new MemoryDefinitionSource(await loadDefinitionsOrThrow("./definitions"));
 * ```
 */

// errors and secrets
export {
  CapflowError,
  type CapflowErrorOptions,
  type ErrorCode,
  type ErrorContext,
  isCapflowError,
} from "./errors.ts";
export { Redacted } from "./redacted.ts";

// definitions: the model users author, loading, validation, graphs
export type * from "./definition/types.ts";
export type * from "./definition/product-types.ts";
export type * from "./definition/client-types.ts";
export type { KnownCryptoHandlers, KnownProcessors } from "./definition/registries.ts";
export {
  type LoadDefinitionsOptions,
  loadDefinitions,
  loadDefinitionsOrThrow,
} from "./definition/load-definitions.ts";
export {
  type DefinitionDocument,
  type DefinitionDocuments,
  type DefinitionSet,
  type ValidateDefinitionsOptions,
  validateDefinitions,
} from "./definition/validate-definitions.ts";
export {
  formatProblems,
  isError,
  type Problem,
  type ProblemCode,
} from "./definition/problem.ts";
export {
  type BehaviorGraph,
  type BehaviorGraphAttributes,
  buildBehaviorGraph,
  type StepEdgeAttributes,
  type StepNodeAttributes,
} from "./definition/behavior-graph.ts";
export { type RenderGraphOptions, renderDot, renderMermaid } from "./definition/render-graph.ts";
export {
  type ChannelPeriod,
  channelAt,
  channelPeriods,
  effectiveInstant,
} from "./definition/future-values.ts";
export {
  compileInputSchema,
  type InputFieldProblem,
  type InputSchema,
  type InputSchemaCompilation,
} from "./definition/input-schema.ts";

// changing definitions in production: diff, impact of a push, secrets
export {
  type BehaviorDiff,
  type ChannelDiff,
  type DefinitionChange,
  type DefinitionDiff,
  describeFieldChange,
  describeFutureValues,
  diffDefinitions,
  type FieldChange,
} from "./change/diff-definitions.ts";
export {
  analyzePushImpact,
  type BreakingChange,
  type BreakingChangeKind,
  type IncomingDefinitions,
  type PushImpactInput,
} from "./change/push-impact.ts";
export { type PushPlan, planPush } from "./change/plan-push.ts";
export {
  type ChannelToCheck,
  type CheckSecretsOptions,
  checkChannelSecrets,
} from "./change/check-secrets.ts";

// message: processors, templates, codecs, masking
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
export { type RenderMessageOptions, renderMessage } from "./message/render-message.ts";
export type { RenderOptions, RenderScope } from "./message/render-session.ts";
export type { RenderedMessage } from "./message/compile-message-template.ts";
export type { Codec, CodecOptions } from "./message/codec.ts";
export { codecFor } from "./message/codecs/codec-for.ts";
export { jsonCodec } from "./message/codecs/json-codec.ts";
export { xmlCodec } from "./message/codecs/xml-codec.ts";
export { formCodec } from "./message/codecs/form-codec.ts";
export { textCodec } from "./message/codecs/text-codec.ts";
export { maskFields } from "./message/mask.ts";

// crypto: handlers, the configurable handler, secrets
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
export {
  createCompositeSecretResolver,
  createDefaultSecretResolver,
  createEnvSecretResolver,
  createFileSecretResolver,
  createInlineSecretResolver,
  type DefaultSecretResolverOptions,
} from "./crypto/secret-resolvers.ts";

// crypto building blocks: the primitives the configurable handler composes, for handlers of your
// own (docs/crypto.md, "Building blocks for your own handler"). All on OpenSSL (node:crypto)
// except SM2 signing and encryption (sm-crypto-v2).
export { type BinaryEncoding, decodeBinary, encodeBinary } from "./crypto/encoding.ts";
export {
  type CanonicalParts,
  compileCanonicalTemplate,
  type SortedFieldsCanonicalization,
  sortedFieldsCanonical,
} from "./crypto/canonicalize.ts";
export { type JsonMemberSelector, jsonMemberText } from "./crypto/json-member.ts";
export { xmlElementText } from "./crypto/xml-element.ts";
export {
  type CmsSignOptions,
  type CmsVerification,
  type CmsVerifyOptions,
  cmsSign,
  cmsVerify,
} from "./crypto/cms/cms-signed-data.ts";
export {
  type CertificatePathOptions,
  type CertificatePathResult,
  verifyCertificatePath,
} from "./crypto/certificates/certificate-path.ts";
export {
  type CertificatePin,
  certificatePinProblem,
} from "./crypto/certificates/certificate-pin.ts";
export {
  type ContentCipher,
  type ContentCipherName,
  createContentCipher,
} from "./crypto/ciphers/content-cipher.ts";
export { type RsaKeyWrapPadding, rsaUnwrapKey, rsaWrapKey } from "./crypto/rsa-key-wrap.ts";
export {
  createSm2Decryptor,
  defaultSm2UserId,
  readSm2PrivateKey,
  readSm2PublicKey,
  type Sm2EncryptionOptions,
  type Sm2SignatureOptions,
  sm2Decrypt,
  sm2Encrypt,
  sm2Sign,
  sm2Verify,
} from "./crypto/sm2.ts";
export {
  type KeyFamily,
  type KeyLoadContext,
  loadPrivateKey,
  loadPublicKey,
  loadSecretKey,
} from "./crypto/keys/load-key.ts";
export type {
  PrivateKey,
  PublicKey,
  RsaPrivateKey,
  RsaPublicKey,
  SecretKey,
  Sm2PrivateKey,
  Sm2PublicKey,
} from "./crypto/keys/loaded-keys.ts";
export { type CertificateIdFormat, certificateId } from "./crypto/keys/certificate-id.ts";

// ports: what adapters implement
export type { Clock } from "./ports/clock.ts";
export {
  alwaysOpenCalendar,
  type CalendarAnswer,
  type CallGate,
  type CallGateRequest,
  type ChannelCalendar,
  type CutoffRequest,
} from "./ports/channel-calendar.ts";
export type * from "./ports/breaker-board.ts";
export type * from "./ports/definition-source.ts";
export type * from "./ports/instance-store.ts";
export type * from "./ports/routing.ts";
export { isSettled, settledStatuses } from "./ports/instance-store.ts";
export type * from "./ports/limiter.ts";
export type * from "./ports/lock-provider.ts";
export type * from "./ports/operator-token-store.ts";
export { operatorRoles } from "./ports/operator-token-store.ts";
export type * from "./ports/operations-view.ts";
export { isOperationsView } from "./ports/operations-view.ts";
export type { SecretResolveOptions, SecretResolver } from "./ports/secret-resolver.ts";
export type * from "./ports/transport.ts";
export type * from "./ports/wake-up-source.ts";

// adapters in core: HTTP, and in-process ones for one node and tests
export { UndiciTransport, type UndiciTransportOptions } from "./transport/undici-transport.ts";
export { InProcessBreakerBoard } from "./memory/in-process-breaker-board.ts";
export { InProcessLimiter } from "./memory/in-process-limiter.ts";
export { InProcessLockProvider } from "./memory/in-process-lock-provider.ts";
export { ManualClock } from "./memory/manual-clock.ts";
export { MemoryDefinitionSource } from "./memory/memory-definition-source.ts";
export { MemoryIntakeStore } from "./memory/memory-intake-store.ts";
export { MemoryInstanceStore } from "./memory/memory-instance-store.ts";
export { systemClock } from "./memory/system-clock.ts";

// flow control and locks
export type {
  BreakerSettings,
  BreakerState,
  CallOutcome,
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
export { currentLock, type WithLockOptions, withLock } from "./runtime/with-lock.ts";

// the engine, its callbacks, and the worker loop
export {
  type ActionOptions,
  type Actor,
  createEngine,
  Engine,
  type EngineOptions,
  type InterfaceAnswer,
  type InterfaceCall,
  type MigrationMove,
  type MigrationOptions,
  type MigrationRefusal,
  type MigrationReport,
  type MigrationRequest,
  type MoveKind,
  type RefusalReason,
  type ChannelStartRequest,
  type ProductStartRequest,
  type RunClaimedHooks,
  type RunDueOptions,
  type StartRequest,
} from "./engine/engine.ts";
export type { AttentionReason, EngineEvent, EngineEventListener } from "./engine/engine-events.ts";
export {
  type OperatorActionKind,
  type OperatorActionPreview,
  type PreviewRefusal,
  previewOperatorAction,
} from "./engine/operator-action-preview.ts";
export { previewReopenedQuotas } from "./routing/reopened-quotas.ts";
export {
  type FailoverSuccession,
  failoverSuccession,
  previewFailedOver,
} from "./engine/failover-successor.ts";
export {
  type CallbackListenerOptions,
  callbackRequestListener,
} from "./engine/callback-listener.ts";
export type { CallbackPayload } from "./engine/callback-payload.ts";
export { pendingRefusalEntry } from "./engine/refusal-run.ts";
export type { CallbackAcknowledgement, InboundHttpRequest } from "./engine/receive-callback.ts";
export {
  isSealedRawMessage,
  type RawExchangeMessages,
  RawMessageKeyring,
  type RawMessageKeyringOptions,
  type RawMessageKind,
  type RawNotification,
  type SealedRawMessage,
} from "./engine/raw-message-keyring.ts";
export {
  lateConflictCode,
  type SweepInboxOptions,
  type SweepInboxResult,
} from "./engine/sweep-inbox.ts";
export { Worker, type WorkerOptions } from "./runtime/worker.ts";

// notifications for the upstream: the transactional outbox
export type * from "./ports/outbox-store.ts";
export type * from "./ports/intake-store.ts";
export { isOutboxStore } from "./ports/outbox-store.ts";
export {
  defaultAttentionNotifications,
  type NotificationOptions,
} from "./outbox/notification-for.ts";
export {
  defaultNotificationSchedule,
  notificationHeaders,
  OutboxDispatcher,
  type OutboxDispatcherOptions,
  type OutboxEvent,
} from "./outbox/outbox-dispatcher.ts";
export {
  createNotificationSigner,
  type NotificationSignatureAlgorithm,
  type NotificationSigner,
  type NotificationSigning,
  signedContent,
} from "./outbox/notification-signer.ts";
export {
  clientNotifyUrls,
  type NotificationTargets,
  notificationTargets,
} from "./outbox/notification-targets.ts";

// business protection: stuck orders, calendars, alerts, queued starts, cached queries
export * from "./protection/public-api.ts";

export {
  backlogStatuses,
  hasStoreStatistics,
  type StoreBacklogs,
  type StoreStatistics,
} from "./ports/store-statistics.ts";
