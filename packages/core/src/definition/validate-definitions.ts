import { parseCel as parseExpression } from "../message/cel.ts";
import { isKnownCharset } from "../message/charset.ts";
import { accountCryptoOptions } from "./account-definition.ts";
import { checkBehaviorGraph } from "./check-behavior-graph.ts";
import { checkCalendarNames } from "./check-calendar-names.ts";
import { checkCallbackSignedReads } from "./check-callback-signed-reads.ts";
import { checkCallbackVerification } from "./check-callback-verification.ts";
import { checkClient } from "./check-client.ts";
import { checkCutoffDay } from "./check-cutoff-day.ts";
import {
  behaviorScopedExpressions,
  channelScopedExpressions,
  checkExpressionNames,
} from "./check-expression-names.ts";
import { checkInputReads, checkProductInputReads } from "./check-input-reads.ts";
import { checkMoneyMarks } from "./check-money-safety.ts";
import { checkProduct } from "./check-product.ts";
import { checkQueryCalls } from "./check-query-calls.ts";
import { checkResendSafety } from "./check-resend-safety.ts";
import { checkTimeZone } from "./check-time-zone.ts";
import type { UpstreamClientDefinition } from "./client-types.ts";
import { didYouMean } from "./closest-name.ts";
import {
  behaviorExpressions,
  behaviorTemplates,
  channelExpressions,
  channelTemplates,
  type LocatedString,
  productExpressions,
  templateDataNames,
} from "./definition-strings.ts";
import { channelPeriods, effectiveInstant } from "./future-values.ts";
import { toPointer } from "./json-pointer.ts";
import { checkSchema } from "./json-schema.ts";
import type { PositionLocator } from "./json-source.ts";
import { ownEntry } from "./own-entry.ts";
import { type Problem, sortProblems } from "./problem.ts";
import type { ProductDefinition } from "./product-types.ts";
import type { KnownCryptoHandlers, KnownProcessors } from "./registries.ts";
import { scanTemplateProcessors } from "./template-processors.ts";
import type { BehaviorDefinition, ChannelDefinition } from "./types.ts";

/** One definition to validate, with where it came from. */
export interface DefinitionDocument {
  /** A file path, or a made-up location such as `db:channel/lanbank` for stored definitions. */
  file: string;
  /** The parsed JSON. */
  definition: unknown;
  /** Maps pointers to line and column, when the source text is known. */
  locate?: PositionLocator;
  /**
   * Set when the text could not be parsed cleanly (the problems are already reported): the
   * definition only registers its code, so that references to it raise no second problem.
   */
  unparsable?: boolean;
}

export interface DefinitionDocuments {
  channels: readonly DefinitionDocument[];
  behaviors: readonly DefinitionDocument[];
  products?: readonly DefinitionDocument[];
  /** Upstream clients of the intake API (`*.client.json`). */
  clients?: readonly DefinitionDocument[];
}

export interface ValidateDefinitionsOptions {
  /** Checks processor names used in templates; skipped when absent. */
  processors?: KnownProcessors;
  /** Checks crypto handler names and options; skipped when absent. */
  cryptoHandlers?: KnownCryptoHandlers;
}

/** The usable definitions and every problem found. Use the definitions only when there is none. */
export interface DefinitionSet {
  /** Channels that match the schema, first definition of each code. */
  channels: ChannelDefinition[];
  /** Behaviors that match the schema, first definition of each (channel, code). */
  behaviors: BehaviorDefinition[];
  /** Products that match the schema, first definition of each code. */
  products: ProductDefinition[];
  /** Upstream clients that match the schema, first definition of each id. */
  clients: UpstreamClientDefinition[];
  /** Every problem, sorted by file and position. */
  problems: Problem[];
}

/**
 * Validates already-parsed definitions: schema, duplicate codes, references between behaviors
 * and channels, the step graph, CEL expressions, templates, and (when registries are given)
 * processor and crypto handler names. Never throws for mistakes in the definitions.
 *
 * Semantic checks run only on definitions that match the schema; fix schema problems first.
 *
 * Longer than most files on purpose: it is the one list of every cross-definition check, in the
 * order problems are reported; checks with logic of their own live beside it (`check-*.ts`).
 */
export function validateDefinitions(
  sources: DefinitionDocuments,
  options: ValidateDefinitionsOptions = {},
): DefinitionSet {
  const problems: Problem[] = [];
  const report = (source: DefinitionDocument, found: readonly Problem[]) => {
    for (const problem of found) problems.push(withPosition(problem, source.locate));
  };

  const channels: ChannelDefinition[] = [];
  const channelFiles = new Map<string, string>();
  const channelCodes = new Set<string>();
  for (const source of sources.channels) {
    const code = codeOf(source.definition, "code");
    if (source.unparsable) {
      if (code !== undefined) channelCodes.add(code);
      continue;
    }
    const schemaProblems = checkSchema("channel", source.definition, source.file);
    report(source, schemaProblems);
    if (code !== undefined) channelCodes.add(code);
    if (schemaProblems.length > 0) continue;
    const channel = source.definition as ChannelDefinition;
    const firstFile = channelFiles.get(channel.code);
    if (firstFile !== undefined) {
      report(source, [
        {
          code: "duplicate-channel",
          file: source.file,
          pointer: "/code",
          message: `channel "${channel.code}" is already defined in ${firstFile}; give each channel its own code`,
        },
      ]);
      continue;
    }
    channelFiles.set(channel.code, source.file);
    channels.push(channel);
    report(source, checkChannel(channel, source.file, options));
    // Reads the built-in handlers' options: a crypto check, skipped without registries.
    if (options.cryptoHandlers !== undefined)
      report(source, [
        ...checkCallbackVerification(channel, source.file),
        ...checkCallbackSignedReads(channel, source.file),
      ]);
    report(source, checkFutureValues(channel, source.file, options));
  }

  const channelsByCode = new Map(channels.map((channel) => [channel.code, channel]));
  const behaviors: BehaviorDefinition[] = [];
  const behaviorFiles = new Map<string, string>();
  for (const source of sources.behaviors) {
    if (source.unparsable) continue;
    const schemaProblems = checkSchema("behavior", source.definition, source.file);
    report(source, schemaProblems);
    if (schemaProblems.length > 0) continue;
    const behavior = source.definition as BehaviorDefinition;
    const key = `${behavior.channel}/${behavior.code}`;
    const firstFile = behaviorFiles.get(key);
    if (firstFile !== undefined) {
      report(source, [
        {
          code: "duplicate-behavior",
          file: source.file,
          pointer: "/code",
          message: `behavior "${behavior.code}" of channel "${behavior.channel}" is already defined in ${firstFile}; give each behavior of a channel its own code`,
        },
      ]);
      continue;
    }
    behaviorFiles.set(key, source.file);
    behaviors.push(behavior);
    const found: Problem[] = [];
    const channel = channelsByCode.get(behavior.channel);
    if (channel === undefined && !channelCodes.has(behavior.channel)) {
      found.push({
        code: "unknown-channel",
        file: source.file,
        pointer: "/channel",
        message: `channel "${behavior.channel}" is not defined${didYouMean(behavior.channel, channelCodes)}; add a ${behavior.channel}.channel.json or fix the code`,
      });
    }
    found.push(...checkBehaviorGraph(behavior, source.file));
    found.push(...checkMoneyMarks(behavior, source.file));
    found.push(...checkQueryCalls(behavior, source.file));
    if (channel !== undefined) {
      found.push(...checkChannelReferences(behavior, channel, source.file));
      found.push(...checkResendSafety(behavior, channel, source.file));
      // The channel as each scheduled change leaves it must still serve the behavior.
      const seen = new Set(found.map((problem) => problem.message));
      for (const period of channelPeriods(channel).slice(1)) {
        const when = channel.future?.[period.entry!]?.effectiveFrom;
        for (const problem of [
          ...checkChannelReferences(behavior, period.definition, source.file),
          ...checkResendSafety(behavior, period.definition, source.file),
        ]) {
          if (seen.has(problem.message)) continue;
          seen.add(problem.message);
          found.push({ ...problem, message: `from ${when} (future values): ${problem.message}` });
        }
      }
    }
    found.push(...checkExpressions(behaviorExpressions(behavior), source.file));
    found.push(...checkExpressionNames(behaviorScopedExpressions(behavior), source.file));
    found.push(...checkTemplates(behaviorTemplates(behavior), source.file, options.processors));
    found.push(...checkInputReads(behavior, source.file));
    report(source, found);
  }

  const behaviorsByKey = new Map(behaviors.map((b) => [`${b.channel}/${b.code}`, b]));
  for (const channel of channels) {
    const source = sources.channels.find(
      (candidate) => candidate.file === channelFiles.get(channel.code),
    )!;
    report(source, checkQuotaBehaviors(channel, behaviorsByKey, source.file));
  }

  const products: ProductDefinition[] = [];
  const productFiles = new Map<string, string>();
  for (const source of sources.products ?? []) {
    if (source.unparsable) continue;
    const schemaProblems = checkSchema("product", source.definition, source.file);
    report(source, schemaProblems);
    if (schemaProblems.length > 0) continue;
    const product = source.definition as ProductDefinition;
    const firstFile = productFiles.get(product.code);
    if (firstFile !== undefined) {
      report(source, [
        {
          code: "duplicate-product",
          file: source.file,
          pointer: "/code",
          message: `product "${product.code}" is already defined in ${firstFile}; give each product its own code`,
        },
      ]);
      continue;
    }
    productFiles.set(product.code, source.file);
    products.push(product);
    report(source, [
      ...checkProduct(
        product,
        { channels: channelsByCode, channelCodes, behaviors: behaviorsByKey },
        source.file,
      ),
      ...checkExpressions(productExpressions(product), source.file),
      ...checkProductInputReads(product, behaviorsByKey, source.file),
    ]);
  }

  const clients: UpstreamClientDefinition[] = [];
  const clientFiles = new Map<string, string>();
  const known = {
    behaviors: new Set(behaviorsByKey.keys()),
    channels: channelCodes,
    products: new Set(products.map((product) => product.code)),
  };
  for (const source of sources.clients ?? []) {
    if (source.unparsable) continue;
    const schemaProblems = checkSchema("client", source.definition, source.file);
    report(source, schemaProblems);
    if (schemaProblems.length > 0) continue;
    const client = source.definition as UpstreamClientDefinition;
    const firstFile = clientFiles.get(client.id);
    if (firstFile !== undefined) {
      report(source, [
        {
          code: "duplicate-client",
          file: source.file,
          pointer: "/id",
          message: `client "${client.id}" is already defined in ${firstFile}; give each client its own id`,
        },
      ]);
      continue;
    }
    clientFiles.set(client.id, source.file);
    clients.push(client);
    report(source, checkClient(client, known, source.file));
  }

  return { channels, behaviors, products, clients, problems: sortProblems(problems) };
}

/** Quotas of a channel and of its accounts are kept per behavior: each must exist. */
function checkQuotaBehaviors(
  channel: ChannelDefinition,
  behaviors: ReadonlyMap<string, BehaviorDefinition>,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const known = [...behaviors.values()]
    .filter((b) => b.channel === channel.code)
    .map((b) => b.code);
  const check = (quotas: Record<string, unknown> | undefined, base: string[]) => {
    for (const behavior of Object.keys(quotas ?? {})) {
      if (behaviors.has(`${channel.code}/${behavior}`)) continue;
      problems.push({
        code: "unknown-behavior",
        file,
        pointer: toPointer([...base, behavior]),
        message: `channel "${channel.code}" has no behavior "${behavior}"${didYouMean(behavior, known)}; quotas are kept per behavior code: fix the code`,
      });
    }
  };
  check(channel.quotas, ["quotas"]);
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    check(account.quotas, ["accounts", code, "quotas"]);
  }
  return problems;
}

function checkChannel(
  channel: ChannelDefinition,
  file: string,
  options: ValidateDefinitionsOptions,
): Problem[] {
  const problems: Problem[] = [];
  const handlers = options.cryptoHandlers;
  if (handlers !== undefined) {
    const name = channel.crypto.handler;
    if (!handlers.hasHandler(name)) {
      problems.push({
        code: "unknown-crypto-handler",
        file,
        pointer: "/crypto/handler",
        message: `crypto handler "${name}" is not registered; register it or use a registered handler such as "configurable"`,
      });
    } else if (handlers.validateOptions !== undefined) {
      for (const found of handlers.validateOptions(name, channel.crypto.options ?? {})) {
        problems.push({
          code: "crypto-options",
          file,
          pointer: `/crypto/options${found.pointer ?? ""}`,
          message: found.message,
        });
      }
    }
  }
  if (handlers?.validateOptions !== undefined && handlers.hasHandler(channel.crypto.handler)) {
    for (const [code, account] of Object.entries(channel.accounts ?? {})) {
      if (account.crypto === undefined) continue;
      const options = accountCryptoOptions(channel, account.crypto.options);
      for (const found of handlers.validateOptions(channel.crypto.handler, options)) {
        problems.push({
          code: "crypto-options",
          file,
          pointer: `/accounts/${code}/crypto/options${found.pointer ?? ""}`,
          message: `with account "${code}": ${found.message}`,
        });
      }
    }
  }
  problems.push(...checkTls(channel, file));
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    if (account.tls !== undefined)
      problems.push(...checkTls({ ...channel, tls: account.tls }, file, `/accounts/${code}/tls`));
  }
  problems.push(...checkTimeZone(channel, file));
  problems.push(...checkCharsetsAndAcks(channel, file));
  problems.push(...checkCalendarNames(channel, file));
  problems.push(...checkCutoffDay(channel, file));
  problems.push(...checkExpressions(channelExpressions(channel), file));
  problems.push(...checkExpressionNames(channelScopedExpressions(channel), file));
  problems.push(...checkTemplates(channelTemplates(channel), file, options.processors));
  return problems;
}

/**
 * Scheduled values: each instant must parse, `code` cannot change, and the channel as each entry
 * leaves it must be a valid channel (schema and checks), reported at the entry.
 */
function checkFutureValues(
  channel: ChannelDefinition,
  file: string,
  options: ValidateDefinitionsOptions,
): Problem[] {
  const problems: Problem[] = [];
  (channel.future ?? []).forEach((entry, index) => {
    const at = toPointer(["future", index]);
    if (effectiveInstant(entry.effectiveFrom, channel.timeZone) === undefined) {
      problems.push({
        code: "future-values",
        file,
        pointer: `${at}/effectiveFrom`,
        message: `"${entry.effectiveFrom}" is not a time: write ISO 8601 with an offset (2027-01-01T00:00:00+08:00) or a date in the channel's time zone (2027-01-01)`,
      });
    }
    for (const key of ["code", "future"]) {
      if (Object.hasOwn(entry.values, key)) {
        problems.push({
          code: "future-values",
          file,
          pointer: `${at}/values/${key}`,
          message: `future values cannot change "${key}": ${key === "code" ? "a channel keeps its code; define a new channel instead" : "schedule each change as its own entry"}`,
        });
      }
    }
  });
  const known = new Set<string>();
  for (const period of channelPeriods(channel).slice(1)) {
    const entry = channel.future![period.entry!]!;
    const schema = checkSchema("channel", period.definition, file);
    const found = schema.length > 0 ? schema : checkChannel(period.definition, file, options);
    for (const problem of found) {
      const key = `${problem.code}${problem.pointer}${problem.message}`;
      if (known.has(key)) continue;
      known.add(key);
      problems.push({
        code: "future-values",
        file,
        pointer: toPointer(["future", period.entry!, "values"]),
        message: `from ${entry.effectiveFrom} the channel would be invalid at ${problem.pointer || "/"}: ${problem.message}`,
      });
    }
  }
  return problems;
}

/**
 * Charsets must be ones the engine can read and write, and an XML acknowledgement needs its root
 * element: both would pass the schema and fail only when a message is rendered or received. A
 * channel with several callbacks needs a `match` on each, or one callback's URL would accept the
 * others' notifications.
 */
function checkCharsetsAndAcks(channel: ChannelDefinition, file: string): Problem[] {
  const problems: Problem[] = [];
  const charset = (value: string | undefined, pointer: string) => {
    if (value !== undefined && !isKnownCharset(value)) {
      problems.push({
        code: "unknown-charset",
        file,
        pointer,
        message: `charset "${value}" is unknown; use a name such as UTF-8, GBK or GB18030`,
      });
    }
  };
  charset(channel.charset, "/charset");
  for (const [name, iface] of Object.entries(channel.interfaces)) {
    charset(iface.charset, toPointer(["interfaces", name, "charset"]));
  }
  const several = Object.keys(channel.callbacks ?? {}).length > 1;
  for (const [name, callback] of Object.entries(channel.callbacks ?? {})) {
    const at = toPointer(["callbacks", name]);
    charset(callback.charset, `${at}/charset`);
    if (several && callback.match === undefined) {
      problems.push({
        code: "callback-without-match",
        file,
        pointer: at,
        message: `channel "${channel.code}" declares several callbacks and "${name}" has no "match": add a condition that only its notifications satisfy (e.g. "body.notify_type == 'LOAN'"), so a notification of another kind posted to its URL is refused instead of applied`,
      });
    }
    if (callback.ack.format === "xml" && callback.ack.xml === undefined) {
      problems.push({
        code: "xml-options-missing",
        file,
        pointer: `${at}/ack`,
        message: `the acknowledgement of callback "${name}" is XML but names no root element; add "xml": { "root": "xml" } (the funder's root element)`,
      });
    }
  }
  return problems;
}

/** What the schema cannot say: which of key, certificate and password go together. */
function checkTls(channel: ChannelDefinition, file: string, at = "/tls"): Problem[] {
  const key = channel.tls?.clientKey;
  if (key === undefined) return [];
  if (key.format === "pkcs12") {
    return key.password === undefined
      ? [
          {
            code: "tls-settings",
            file,
            pointer: `${at}/clientKey`,
            message:
              'a PKCS#12 client key needs a "password" reference (env:NAME); PKCS#12 files are always encrypted',
          },
        ]
      : [];
  }
  return channel.tls?.clientCertificate === undefined
    ? [
        {
          code: "tls-settings",
          file,
          pointer: at,
          message:
            'a PEM client key needs "clientCertificate" (its PEM certificate chain, leaf first); or give a PKCS#12 file with format "pkcs12"',
        },
      ]
    : [];
}

function checkChannelReferences(
  behavior: BehaviorDefinition,
  channel: ChannelDefinition,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const interfaces = Object.keys(channel.interfaces);
  const callbacks = Object.keys(channel.callbacks ?? {});
  const checkInterface = (name: string, path: (string | number)[]) => {
    if (ownEntry(channel.interfaces, name) !== undefined) return;
    problems.push({
      code: "unknown-interface",
      file,
      pointer: toPointer(path),
      message: `channel "${channel.code}" has no interface "${name}"${didYouMean(name, interfaces)}; declare it under "interfaces" of the channel or fix the name`,
    });
  };
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind === "call" || step.kind === "poll") {
      checkInterface(step.interface, ["steps", code, "interface"]);
    }
    if (step.kind === "callback") {
      if (step.poll !== undefined)
        checkInterface(step.poll.interface, ["steps", code, "poll", "interface"]);
      if (ownEntry(channel.callbacks, step.callback) === undefined) {
        problems.push({
          code: "unknown-callback",
          file,
          pointer: toPointer(["steps", code, "callback"]),
          message: `channel "${channel.code}" has no callback "${step.callback}"${didYouMean(step.callback, callbacks)}; declare it under "callbacks" of the channel or fix the name`,
        });
      }
    }
  }
  return problems;
}

function checkExpressions(expressions: readonly LocatedString[], file: string): Problem[] {
  const problems: Problem[] = [];
  for (const { pointer, text } of expressions) {
    try {
      parseExpression(text);
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
      problems.push({
        code: "invalid-expression",
        file,
        pointer,
        message: `CEL expression ${JSON.stringify(text)} does not parse: ${reason}; fix the expression`,
      });
    }
  }
  return problems;
}

function checkTemplates(
  templates: readonly LocatedString[],
  file: string,
  processors: KnownProcessors | undefined,
): Problem[] {
  const problems: Problem[] = [];
  for (const { pointer, text, extraData } of templates) {
    if (!text.includes("{{")) continue;
    const scan = scanTemplateProcessors(text);
    if (!scan.ok) {
      const where =
        scan.line === undefined ? "" : ` at template line ${scan.line}, column ${scan.column ?? 1}`;
      problems.push({
        code: "invalid-template",
        file,
        pointer,
        message: `template ${JSON.stringify(text)} does not parse${where}: ${scan.message}; fix the Handlebars syntax`,
      });
      continue;
    }
    if (processors === undefined) continue;
    const reported = new Set<string>();
    for (const use of scan.processors) {
      if (processors.hasProcessor(use.name) || reported.has(use.name)) continue;
      reported.add(use.name);
      problems.push({
        code: "unknown-processor",
        file,
        pointer,
        message: `processor "${use.name}" is not registered; register it with the processor registry or fix the name`,
      });
    }
    // A name that is neither data nor a processor renders empty: almost always a typo.
    const data = [...templateDataNames, ...(extraData ?? [])];
    for (const use of scan.roots) {
      if (data.includes(use.name) || processors.hasProcessor(use.name)) continue;
      if (reported.has(use.name)) continue;
      reported.add(use.name);
      problems.push({
        code: "unknown-data",
        file,
        pointer,
        message: `"${use.name}" is neither template data (${data.join(", ")}) nor a registered processor${didYouMean(use.name, data)}; it would render empty: fix the name`,
      });
    }
  }
  return problems;
}

function withPosition(problem: Problem, locate: PositionLocator | undefined): Problem {
  if (problem.line !== undefined || locate === undefined) return problem;
  const position = locate(problem.pointer);
  return position === undefined ? problem : { ...problem, ...position };
}

function codeOf(definition: unknown, property: string): string | undefined {
  if (typeof definition !== "object" || definition === null) return undefined;
  const value = (definition as Record<string, unknown>)[property];
  return typeof value === "string" ? value : undefined;
}
