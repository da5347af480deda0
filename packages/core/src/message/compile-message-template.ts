import type { MessageTemplate, TemplateValue, XmlOptions } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import {
  compileOptions,
  type HelperDelegate,
  handlebars,
  type TemplateDelegate,
} from "./handlebars-environment.ts";
import { internalHelpers, readPath } from "./internal-helpers.ts";
import { toMessageValue } from "./message-value.ts";
import { processorHelpers } from "./processor-helpers.ts";
import type { ProcessorRegistry } from "./processor-registry.ts";
import type { RenderSession } from "./render-session.ts";
import {
  collectHelperNames,
  directPath,
  escapePointer,
  internalHelperNames,
  isSingleMustache,
  type LeafKind,
  leafStatement,
  noLocation,
  type Program,
  parseLeaf,
  type Statement,
} from "./template-ast.ts";

/** A rendered message before encoding: what the crypto handler seals and a codec encodes. */
export interface RenderedMessage {
  headers: Record<string, string>;
  query: Record<string, string>;
  /** Structured body (a string for `text` bodies); undefined when the template has none. */
  body: unknown;
  /** Rendered path, when a path template was given. */
  path?: string;
  /** The template's XML options with rendered root attributes: pass to `codecFor("xml", { xml })`. */
  xml?: XmlOptions;
}

/**
 * The template tree with every templated string replaced by where its value comes from: a slot
 * filled by the Handlebars program, or a data path read directly (`{{input.amount}}` needs no
 * Handlebars at all).
 */
type Skeleton =
  | { slot: number; kind: LeafKind }
  | { path: string[]; pointer: string; kind: "value" | "header" }
  | { constant: unknown }
  | { array: Skeleton[] }
  | { object: [string, Skeleton][] }
  | { jsonText: Skeleton };

/**
 * `{ "$json": <template> }`: the member's value is the JSON text of the rendered template, for
 * partners that carry an object as a string inside a field (Alipay's `biz_content`). The outer
 * codec escapes that text like any string (quotes in a JSON body, percent-encoding in a form).
 */
const jsonTextKey = "$json";

function isJsonText(value: TemplateValue): value is { [jsonTextKey]: TemplateValue } {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    Object.hasOwn(value, jsonTextKey)
  );
}

/**
 * A message template compiled into ONE Handlebars program: a whole-value string becomes
 * `{{__capflowSet i (expression)}}`, a text string a block `{{#__capflowLeaf i}}…{{/__capflowLeaf}}`,
 * and their results land in slot `i`. One program per message, because every Handlebars
 * invocation has a fixed setup cost (it merges and wraps the helper table) that would dominate if
 * every field were its own template; plain data paths skip Handlebars entirely.
 */
export class CompiledMessageTemplate {
  /** JSON pointers of the slots, in program order (for error messages). */
  readonly #pointers: string[] = [];
  readonly #body: Skeleton | undefined;
  readonly #headers: Skeleton | undefined;
  readonly #query: Skeleton | undefined;
  readonly #path: Skeleton | undefined;
  readonly #xml: XmlOptions | undefined;
  readonly #xmlAttributes: Skeleton | undefined;
  readonly #program: TemplateDelegate | undefined;
  /** Names the program may call as helpers; only these processors are handed to Handlebars. */
  readonly #helperNames = new Set<string>();
  #helpers:
    | { registry: ProcessorRegistry; version: number; table: Record<string, HelperDelegate> }
    | undefined;

  constructor(template: MessageTemplate, options: { path?: string; strict?: boolean } = {}) {
    const statements: Statement[] = [];
    /** `single` says what a string that is exactly one mustache becomes (others are text). */
    const add = (pointer: string, text: string, single: LeafKind): Skeleton => {
      if (!text.includes("{{")) return { constant: text };
      const program = parseLeaf(text, pointer);
      const kind = single === "uri" || isSingleMustache(program) ? single : "text";
      if (kind === "value" || kind === "header") {
        const path = directPath(program.body[0] as hbs.AST.MustacheStatement);
        if (path !== undefined) return { path, pointer, kind };
      }
      collectHelperNames(program, this.#helperNames);
      const slot = this.#pointers.length;
      this.#pointers.push(pointer);
      statements.push(leafStatement(slot, program, kind));
      return { slot, kind };
    };
    const walk = (value: TemplateValue, pointer: string): Skeleton => {
      if (typeof value === "string") return add(pointer, value, "value");
      if (Array.isArray(value)) {
        return { array: value.map((item, index) => walk(item, `${pointer}/${index}`)) };
      }
      if (isJsonText(value)) {
        return { jsonText: walk(value[jsonTextKey], `${pointer}/${escapePointer(jsonTextKey)}`) };
      }
      if (value !== null && typeof value === "object") {
        return {
          object: Object.entries(value).map(([key, item]) => [
            key,
            walk(item, `${pointer}/${escapePointer(key)}`),
          ]),
        };
      }
      return { constant: value };
    };
    const strings = (record: Record<string, string> | undefined, base: string) =>
      record === undefined
        ? undefined
        : ({
            object: Object.entries(record).map(([key, text]) => [
              key,
              add(`${base}/${escapePointer(key)}`, text, "header"),
            ]),
          } satisfies Skeleton);

    this.#body = template.body === undefined ? undefined : walk(template.body, "/body");
    this.#headers = strings(template.headers, "/headers");
    this.#query = strings(template.query, "/query");
    this.#path = options.path === undefined ? undefined : add("/path", options.path, "uri");
    this.#xml = template.xml;
    this.#xmlAttributes = strings(template.xml?.attributes, "/xml/attributes");
    if (statements.length > 0) {
      const program: Program = {
        type: "Program",
        body: statements,
        blockParams: [],
        loc: noLocation,
      };
      try {
        const compiled = handlebars.compile(program, compileOptions(options.strict === true));
        // Handlebars compiles lazily on first call; force it now so errors surface here.
        const noop = () => "";
        compiled(
          {},
          {
            helpers: Object.fromEntries(
              ["helperMissing", ...Object.values(internalHelperNames), ...this.#helperNames].map(
                (name) => [name, noop],
              ),
            ),
          },
        );
        this.#program = compiled;
      } catch (error) {
        throw new CapflowError(
          "TEMPLATE_COMPILE_FAILED",
          `A message template does not compile: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
  }

  /** Runs one render pass, filling the session's slots (values may be {@link PENDING}). */
  renderPass(session: RenderSession): void {
    session.beginPass(this.#pointers);
    if (this.#program === undefined) return;
    this.#program(session.data, {
      helpers: this.#helperTable(session.registry),
      data: { capflowSession: session },
    });
  }

  #helperTable(registry: ProcessorRegistry): Record<string, HelperDelegate> {
    const cached = this.#helpers;
    if (cached?.registry === registry && cached.version === registry.version) return cached.table;
    const all = processorHelpers(registry);
    const table: Record<string, HelperDelegate> = { ...internalHelpers };
    for (const name of ["helperMissing", ...this.#helperNames]) {
      const helper = all[name];
      if (helper !== undefined) table[name] = helper;
    }
    this.#helpers = { registry, version: registry.version, table };
    return table;
  }

  /** Builds the message from the data and the slots of the last (complete) pass. */
  assemble(session: RenderSession): RenderedMessage {
    const build = (skeleton: Skeleton) => this.#build(skeleton, session);
    const message: RenderedMessage = {
      headers: (this.#headers === undefined ? {} : build(this.#headers)) as Record<string, string>,
      query: (this.#query === undefined ? {} : build(this.#query)) as Record<string, string>,
      body: this.#body === undefined ? undefined : build(this.#body),
    };
    if (this.#path !== undefined) message.path = String(build(this.#path) ?? "");
    if (this.#xml !== undefined) {
      message.xml = { ...this.#xml };
      if (this.#xmlAttributes !== undefined) {
        message.xml.attributes = build(this.#xmlAttributes) as Record<string, string>;
      }
    }
    return message;
  }

  #build(skeleton: Skeleton, session: RenderSession): unknown {
    if ("slot" in skeleton) {
      return this.#finish(session.slots[skeleton.slot], skeleton.kind, skeleton.slot, session);
    }
    if ("path" in skeleton) {
      const value = readPath(session.data, skeleton.path);
      return this.#finish(value, skeleton.kind, skeleton.pointer, session);
    }
    if ("constant" in skeleton) return skeleton.constant;
    if ("array" in skeleton) {
      const array = new Array<unknown>(skeleton.array.length);
      for (let i = 0; i < array.length; i++) {
        array[i] = this.#build(skeleton.array[i]!, session) ?? null;
      }
      return array;
    }
    if ("jsonText" in skeleton) {
      return JSON.stringify(this.#build(skeleton.jsonText, session) ?? null);
    }
    const object: Record<string, unknown> = {};
    for (const [key, child] of skeleton.object) {
      const value = this.#build(child, session);
      if (value !== undefined) object[key] = value;
    }
    return object;
  }

  #finish(value: unknown, kind: LeafKind, where: number | string, session: RenderSession): unknown {
    if (kind === "text" || kind === "uri") return value;
    const plain = toMessageValue(value);
    if (plain === undefined && session.strict) {
      const pointer = typeof where === "number" ? this.#pointers[where]! : where;
      session.currentTemplate = pointer;
      throw session.templateError(
        `Template ${pointer} of step "${session.scope.step}" has no value; provide it or render with missing: "empty".`,
      );
    }
    if (kind === "value") return plain;
    if (plain === undefined || plain === null) return undefined;
    return typeof plain === "object" ? JSON.stringify(plain) : String(plain);
  }
}
