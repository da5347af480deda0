import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import type { XmlOptions } from "../../definition/types.ts";
import { charsetLabel, defaultCharset } from "../charset.ts";
import type { Codec } from "../codec.ts";
import { toMessageValue } from "../message-value.ts";
import { decodeError, encodeError } from "./decode-error.ts";
import { isEmptyBody } from "./empty-body.ts";

/** Attribute keys start with `@` (`{ "@version": "1.0" }`); mixed text is `#text`. */
export const xmlAttributePrefix = "@";
export const xmlTextKey = "#text";
const cdataKey = "#cdata";

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: xmlAttributePrefix,
  textNodeName: xmlTextKey,
  cdataPropName: cdataKey,
  // Escapes & < > " ' in text and attribute values.
  processEntities: true,
  suppressEmptyNode: false,
  format: false,
});

const parserOptions = {
  ignoreAttributes: false,
  attributeNamePrefix: xmlAttributePrefix,
  textNodeName: xmlTextKey,
  // Partner codes ("0000"), card numbers and amounts must stay strings.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
};
const parser = new XMLParser(parserOptions);
// Where signatures cover values as sent, whitespace around them is part of the value.
const untrimmedParser = new XMLParser({ ...parserOptions, trimValues: false });

// XML names: letters (any script), digits, `_`, `-`, `.`, `:` (namespaced), not starting with a
// digit, `-` or `.`. Anything else (spaces, `<`, quotes) could break the document.
const xmlName = /^[\p{L}_:][\p{L}\p{N}_.:-]*$/u;

/**
 * `xml`: the structured body becomes the children of the root element `xml.root`
 * (`@`-prefixed keys become root attributes, arrays repeat elements, keys listed in `xml.cdata`
 * are wrapped in CDATA). Every value is escaped. Decoding gives the content of the root element as
 * plain objects whose leaves are strings (never numbers), repeated elements as arrays, and
 * attributes under `@name`. Documents with a DOCTYPE are refused (entity expansion attacks).
 * No body encodes as empty text; an empty body decodes as `{}`.
 */
export const xmlCodec: Codec = {
  format: "xml",
  contentType: "application/xml; charset=utf-8",
  encode(value, options) {
    if (value === undefined || value === null) return "";
    const xml = options?.xml;
    if (xml === undefined) throw encodeError("xml", 'xml bodies need the "xml.root" option');
    const plain = toMessageValue(value) ?? {};
    if (typeof plain !== "object" || plain === null || Array.isArray(plain)) {
      throw encodeError("xml", "an xml body must be an object of elements");
    }
    const root: Record<string, unknown> = {};
    for (const [name, attribute] of Object.entries(xml.attributes ?? {})) {
      root[`${xmlAttributePrefix}${name}`] = attribute;
    }
    Object.assign(root, prepare(plain, new Set(xml.cdata ?? [])));
    checkName(xml.root);
    const document = builder.build({ [xml.root]: root }) as string;
    return xml.declaration === false
      ? document
      : `<?xml version="1.0" encoding="${charsetLabel(options?.charset ?? defaultCharset)}"?>${document}`;
  },
  decode(text, options) {
    if (isEmptyBody(text)) return {};
    if (/<!DOCTYPE/i.test(text)) {
      throw decodeError("xml", text, "documents with a DOCTYPE are refused");
    }
    const validation = XMLValidator.validate(text);
    if (validation !== true) {
      const { msg, line, col } = validation.err;
      throw decodeError("xml", text, `${msg} (line ${line}, column ${col})`);
    }
    const document = (options?.xml?.trim === false ? untrimmedParser : parser).parse(
      text,
    ) as Record<string, unknown>;
    const roots = Object.keys(document);
    const rootName = rootOf(roots, options?.xml);
    if (rootName === undefined) {
      throw decodeError(
        "xml",
        text,
        `expected one root element${options?.xml ? ` <${options.xml.root}>` : ""}`,
      );
    }
    const content = document[rootName];
    return content === "" ? {} : content;
  },
};

function rootOf(roots: string[], xml: XmlOptions | undefined): string | undefined {
  if (xml !== undefined) return roots.includes(xml.root) ? xml.root : undefined;
  return roots.length === 1 ? roots[0] : undefined;
}

function checkName(name: string): void {
  if (!xmlName.test(name)) {
    throw encodeError("xml", `${JSON.stringify(name)} is not a usable element or attribute name`);
  }
}

/** Validates names, stringifies leaves, wraps configured keys in CDATA. */
function prepare(value: object, cdata: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key !== xmlTextKey) {
      checkName(key.startsWith(xmlAttributePrefix) ? key.slice(xmlAttributePrefix.length) : key);
    }
    out[key] = prepareValue(item, cdata.has(key), cdata);
  }
  return out;
}

function prepareValue(item: unknown, asCdata: boolean, cdata: ReadonlySet<string>): unknown {
  if (Array.isArray(item)) return item.map((entry) => prepareValue(entry, asCdata, cdata));
  if (item !== null && typeof item === "object") return prepare(item, cdata);
  const text = item === null || item === undefined ? "" : String(item);
  return asCdata ? { [cdataKey]: text } : text;
}
