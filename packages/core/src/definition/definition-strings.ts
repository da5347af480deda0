import { toPointer } from "./json-pointer.ts";
import type { ProductDefinition } from "./product-types.ts";
import type {
  BehaviorDefinition,
  ChannelDefinition,
  MessageTemplate,
  ResponseDefinition,
  StatusTable,
  TemplateValue,
} from "./types.ts";

/** A string of a definition that is code: a CEL expression or a Handlebars template. */
export interface LocatedString {
  pointer: string;
  text: string;
  /** Template data at the root beyond the names every template sees (`templateDataNames`). */
  extraData?: readonly string[];
}

/** What every template reads at its root (see `RenderScope`). */
export const templateDataNames: readonly string[] = [
  "input",
  "context",
  "channel",
  "behavior",
  "step",
  "attempt",
  "account",
  "constants",
];

/**
 * What an acknowledgement template also reads at its root: the opened notification (see
 * `receiveCallback`: body, headers, extracted fields, outcome and partner code, also as
 * `callback`), or for a refused one the `error`.
 */
const acknowledgementDataNames: readonly string[] = [
  "body",
  "headers",
  "fields",
  "outcome",
  "code",
  "callback",
  "error",
];

type Path = (string | number)[];

/** Every CEL expression of a channel: status table codes, callback correlation, dedupe, extract. */
export function channelExpressions(channel: ChannelDefinition): LocatedString[] {
  const found: LocatedString[] = [];
  addStatusTable(found, ["statusTable"], channel.statusTable);
  for (const [name, definition] of Object.entries(channel.interfaces)) {
    addStatusTable(found, ["interfaces", name, "statusTable"], definition.statusTable);
  }
  for (const [name, callback] of Object.entries(channel.callbacks ?? {})) {
    const base = ["callbacks", name];
    add(found, [...base, "correlation"], callback.correlation);
    add(found, [...base, "dedupeKey"], callback.dedupeKey);
    if (callback.match !== undefined) add(found, [...base, "match"], callback.match);
    for (const [field, expression] of Object.entries(callback.extract ?? {})) {
      add(found, [...base, "extract", field], expression);
    }
    addStatusTable(found, [...base, "statusTable"], callback.statusTable);
  }
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    if (account.when !== undefined) add(found, ["accounts", code, "when"], account.when);
  }
  return found;
}

/** Every CEL expression of a product: amount, customer, and each channel's eligibility. */
export function productExpressions(product: ProductDefinition): LocatedString[] {
  const found: LocatedString[] = [];
  if (product.amount !== undefined) add(found, ["amount"], product.amount);
  if (product.customer !== undefined) add(found, ["customer"], product.customer);
  product.channels.forEach((entry, index) => {
    if (entry.when !== undefined) add(found, ["channels", index, "when"], entry.when);
  });
  return found;
}

/** Every Handlebars template of a channel: interface paths and callback acknowledgements. */
export function channelTemplates(channel: ChannelDefinition): LocatedString[] {
  const found: LocatedString[] = [];
  for (const [name, definition] of Object.entries(channel.interfaces)) {
    add(found, ["interfaces", name, "path"], definition.path);
  }
  for (const [name, callback] of Object.entries(channel.callbacks ?? {})) {
    const base = ["callbacks", name, "ack"];
    const acks: LocatedString[] = [];
    addTree(acks, [...base, "body"], callback.ack.body);
    addRecord(acks, [...base, "headers"], callback.ack.headers);
    addTree(acks, [...base, "rejectBody"], callback.ack.rejectBody);
    for (const ack of acks) found.push({ ...ack, extraData: acknowledgementDataNames });
  }
  return found;
}

/** Every CEL expression of a behavior: route conditions and response extraction. */
export function behaviorExpressions(behavior: BehaviorDefinition): LocatedString[] {
  const found: LocatedString[] = [];
  for (const [code, step] of Object.entries(behavior.steps)) {
    const base = ["steps", code];
    if ("routes" in step && step.routes !== undefined) {
      step.routes.forEach((route, index) => {
        add(found, [...base, "routes", index, "when"], route.when);
      });
    }
    if (step.kind === "call" || step.kind === "poll") {
      addExtract(found, [...base, "response"], step.response);
    }
    if (step.kind === "callback" && step.poll !== undefined) {
      addExtract(found, [...base, "poll", "response"], step.poll.response);
    }
  }
  return found;
}

/** Every Handlebars template of a behavior: request bodies, headers, query and XML attributes. */
export function behaviorTemplates(behavior: BehaviorDefinition): LocatedString[] {
  const found: LocatedString[] = [];
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind === "call" || step.kind === "poll") {
      addRequest(found, ["steps", code, "request"], step.request);
    }
    if (step.kind === "callback" && step.poll !== undefined) {
      addRequest(found, ["steps", code, "poll", "request"], step.poll.request);
    }
  }
  return found;
}

function addRequest(found: LocatedString[], base: Path, request: MessageTemplate): void {
  addTree(found, [...base, "body"], request.body);
  addRecord(found, [...base, "headers"], request.headers);
  addRecord(found, [...base, "query"], request.query);
  addRecord(found, [...base, "xml", "attributes"], request.xml?.attributes);
}

function addExtract(found: LocatedString[], base: Path, response: ResponseDefinition | undefined) {
  for (const [field, expression] of Object.entries(response?.extract ?? {})) {
    add(found, [...base, "extract", field], expression);
  }
}

function addStatusTable(found: LocatedString[], base: Path, table: StatusTable | undefined): void {
  if (table === undefined) return;
  if (table.unsigned !== undefined) add(found, [...base, "unsigned"], table.unsigned);
  add(found, [...base, "code"], table.code);
}

function addRecord(
  found: LocatedString[],
  base: Path,
  record: Record<string, string> | undefined,
): void {
  for (const [key, text] of Object.entries(record ?? {})) add(found, [...base, key], text);
}

function addTree(found: LocatedString[], path: Path, value: TemplateValue | undefined): void {
  if (typeof value === "string") {
    add(found, path, value);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      addTree(found, [...path, index], item);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) addTree(found, [...path, key], item);
  }
}

function add(found: LocatedString[], path: Path, text: string): void {
  found.push({ pointer: toPointer(path), text });
}
