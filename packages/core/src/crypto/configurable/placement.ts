import type { Fields } from "./messages.ts";
import type { FieldLocation, SignaturePart } from "./options.ts";

/**
 * Where the profile's values travel (timestamp, nonce, key id, signature): a header, a query
 * parameter, or a field of the wire object (the envelope when encrypting, else the body).
 */
export interface PlacementTarget {
  headers: Record<string, string>;
  query: Record<string, string>;
  wire: Fields | undefined;
}

/** Writes a value at its location; body locations go into the wire object. */
export function placeValue(location: FieldLocation, value: string, target: PlacementTarget): void {
  if (location.in === "header") target.headers[location.name.toLowerCase()] = value;
  else if (location.in === "query") target.query[location.name] = value;
  else if (target.wire !== undefined) target.wire[location.name] = value;
}

/** Reads a value from its location; `readBody` gives the wire object when a body field is asked for. */
export function readPlacedValue(
  location: FieldLocation | undefined,
  message: { headers: Record<string, string>; query: Record<string, string> },
  readBody: () => Fields | undefined,
): string | undefined {
  if (location?.in === undefined) return undefined;
  if (location.in === "header") return message.headers[location.name.toLowerCase()];
  if (location.in === "query") return message.query[location.name];
  const value = readBody()?.[location.name];
  return value === undefined || value === null ? undefined : String(value);
}

/** The location of a timestamp or nonce part, when it travels on its own. */
export function locationOf(
  part: { in?: FieldLocation["in"]; name?: string } | undefined,
): FieldLocation | undefined {
  if (part?.in === undefined || part.name === undefined) return undefined;
  return { in: part.in, name: part.name };
}

/** The query as it was signed: without the signature itself when the signature travels in it. */
export function queryWithoutSignature(
  query: Record<string, string>,
  part: SignaturePart,
): Record<string, string> {
  if (part.placement.in !== "query") return query;
  const { [part.placement.name]: _, ...rest } = query;
  return rest;
}

/** `{path}` of a canonical template: the path with its query string, URL-encoded. */
export function pathWithQuery(path: string, query: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search === "" ? path : `${path}?${search}`;
}
