/**
 * @capflow/core/internal — what capflow's own packages (stores, CLI, testkit, tools) share
 * beyond the public API. No compatibility promise: names here may change in any release. Users
 * need only `@capflow/core` (docs/api.md).
 */

export { canonicalJson } from "./canonical-json.ts";
// keys of stored definitions, checked by the processes that serve them
export {
  type CheckStoredKeysOptions,
  checkStoredKeys,
  type StoredKeyFailure,
  type StoredKeysReport,
} from "./change/check-stored-keys.ts";
export {
  mirrorCryptoDefinition,
  mirrorCryptoOptions,
  type PartnerKeySet,
} from "./crypto/configurable/mirror.ts";
// crypto
export { validateConfigurableOptions } from "./crypto/configurable/validate-options.ts";
// definitions
export { isRetiredClient } from "./definition/client-retired.ts";
export { parseDuration } from "./definition/duration.ts";
export { cidrProblem, compileIpAllowList, type IpAllowList } from "./definition/ip-allow-list.ts";
export { fromPointer, toPointer } from "./definition/json-pointer.ts";
export {
  type DefinitionKind,
  definitionSchema,
  isBehaviorDefinition,
  isChannelDefinition,
  isProductDefinition,
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
  clientFileSuffix,
  productFileSuffix,
} from "./definition/load-definitions.ts";
export { ownEntry } from "./definition/own-entry.ts";
export { problemCodes, sortProblems } from "./definition/problem.ts";
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
export { BehaviorMachine, type MachineSnapshot } from "./engine/behavior-machine.ts";
export { checkSameClient, visibleToClient } from "./engine/client-ownership.ts";
export { refusalEntryId, refusalLogEntry, transitionStep } from "./engine/refusal-run.ts";
export { routedLogEntry } from "./engine/routed-log-entry.ts";
export { digestOf } from "./engine/start-instance.ts";
export { startedLogEntry } from "./engine/started-log-entry.ts";
export { errorCodes, retryableByDefault, toCapflowError } from "./errors.ts";
export {
  type CompiledExpression,
  checkExpression,
  type ExpressionCheck,
  evaluateExpression,
  parseExpression,
} from "./message/cel.ts";
// message pipeline stages
export { decodeBytes, defaultCharset, encodeText, withCharset } from "./message/charset.ts";
export { type ChosenRoute, chooseRoute, findRoute, type RouteEnv } from "./message/choose-route.ts";
export { CompiledMessageTemplate } from "./message/compile-message-template.ts";
export { type ExtractionEnv, extractFields } from "./message/extract-fields.ts";
export {
  maskBankCard,
  maskEmail,
  maskFull,
  maskIdCard,
  maskName,
  maskPhone,
  maskValue,
} from "./message/mask.ts";
export { compiledTemplateFor, renderCompiledMessage } from "./message/render-message.ts";
export { applyStatusTable, type PartnerStatus } from "./message/status-table.ts";
export { type PublicError, publicError } from "./public-error.ts";
export { readJsonFile } from "./read-json-file.ts";
export { defaultBreakerSettings } from "./runtime/flow-control/circuit-breaker.ts";
export { defaultBulkhead, flowRequestFor } from "./runtime/flow-control/flow-request.ts";
// transport, flow control, engine
export { classifyTransportError } from "./transport/undici-transport.ts";
