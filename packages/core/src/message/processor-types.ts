/**
 * What a processor is: a named function computing one value of a message, plus the metadata
 * authoring tools list (name, human label, parameters, return type, where it comes from).
 */

/** Value types named in processor metadata. Documentation for tools; not enforced at runtime. */
export type ProcessorValueType =
  | "string"
  | "number"
  | "integer"
  | "decimal"
  | "boolean"
  | "date"
  | "object"
  | "array"
  | "any";

export interface ProcessorParam {
  name: string;
  type: ProcessorValueType;
  description?: string;
  /** May be left out by the caller (only trailing parameters). */
  optional?: boolean;
  /** Takes all remaining arguments (last parameter only). */
  rest?: boolean;
}

export interface ProcessorReturn {
  type: ProcessorValueType;
  description?: string;
}

/** What an author declares, with `@processor(...)` or `registry.register(...)`. */
export interface ProcessorDeclaration {
  /** Helper name used in templates: letters, digits and `_`, not starting with a digit. */
  name: string;
  /** Human label shown by authoring tools, in any language (e.g. `元转分`). */
  label: string;
  description?: string;
  /** Positional parameters, after the context. Calls are checked against them (arity). */
  params: ProcessorParam[];
  /** Default `{ type: "any" }`. A bare type name is accepted. */
  returns?: ProcessorReturn | ProcessorValueType;
}

/** Where a processor was declared; kept with its metadata so tools can point at the code. */
export interface ProcessorSource {
  /** A module name or path given at registration (e.g. `@capflow/core`, `./processors/bank.ts`). */
  module?: string;
  /** Class holding the decorated method. */
  class?: string;
  /** Method or function name. */
  function?: string;
}

/** JSON-serialisable metadata of a registered processor (what the store persists). */
export interface ProcessorMetadata {
  name: string;
  label: string;
  description?: string;
  params: ProcessorParam[];
  returns: ProcessorReturn;
  source: ProcessorSource;
}

/** Identifies one attempt of one step of one instance (see docs/processors.md, `serialNo`). */
export interface AttemptInfo {
  instanceId: string;
  /** 1 for the first attempt of the step; a resend of the same attempt keeps its number. */
  number: number;
  /** A serial the engine already holds for this attempt; `serialNo` returns it unchanged. */
  serial?: string;
  /** Epoch millis of the attempt's first render; fixes the date part of derived serials. */
  startedAt?: number;
}

export interface ChannelInfo {
  code: string;
  /** IANA time zone, e.g. `Asia/Shanghai`; the default zone of date processors. */
  timeZone: string;
}

/** What a processor receives as its first argument. */
export interface ProcessorContext {
  /** The instance's business input (read only). */
  readonly input: Readonly<Record<string, unknown>>;
  /** The instance context: input plus fields extracted by earlier steps (read only). */
  readonly context: Readonly<Record<string, unknown>>;
  readonly channel: ChannelInfo;
  /** Behavior code, when known. */
  readonly behavior: string | undefined;
  /** Step code being rendered. */
  readonly step: string;
  readonly attempt: AttemptInfo;
  /** The template data root (`input`, `context`, `channel`, `step`, `attempt`, extras). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Calls another processor through the render's memo: one run per distinct call. */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T>;
  /** The render's instant, epoch millis: the same value for the whole render. */
  now(): number;
  /** Aborted when the render is abandoned; pass it on to I/O. */
  readonly signal: AbortSignal;
}

/** A processor implementation: the context first, then the template's arguments. */
export type ProcessorFunction = (ctx: ProcessorContext, ...args: never[]) => unknown;
