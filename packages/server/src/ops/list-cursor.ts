import { CapflowError } from "@capflow/core";

/** Where a listing stopped: the (createdAt, id) of its last row, as an opaque string. */
export interface ListPosition {
  createdAt: number;
  id: string;
}

export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), "utf8").toString(
    "base64url",
  );
}

/** Reads a cursor a listing gave; `REQUEST_INVALID` for anything else. */
export function decodeCursor(cursor: string): ListPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === "string"
    ) {
      return { createdAt: value[0] as number, id: value[1] };
    }
  } catch {
    // Refused below.
  }
  throw new CapflowError(
    "REQUEST_INVALID",
    "cursor is not one this API gave; pass nextCursor from the previous page as it is",
  );
}
