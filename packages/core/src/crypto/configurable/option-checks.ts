import { didYouMean } from "../../definition/closest-name.ts";

/** Small checks shared by the option validators; each reports at a JSON pointer. */
export type Report = (pointer: string, message: string) => void;

/** Reports that a part needs a key role the options do not configure. */
export type NeedKey = (role: string, pointer: string, why: string) => void;

export const locations = ["body", "header", "query"];

/** How binary parts (signatures, ciphertexts, wrapped keys, IVs) are written as text. */
export const binaryEncodings = ["hex", "hex-upper", "base64", "base64url"];

export function optionalLocation(value: Record<string, unknown>, p: string, report: Report): void {
  if (value.in === undefined) return;
  oneOf(value.in, `${p}/in`, locations, report, false);
  if (typeof value.name !== "string") report(`${p}/name`, "name is required when in is given");
}

export function oneOf(
  value: unknown,
  pointer: string,
  allowed: string[],
  report: Report,
  optional: boolean,
): boolean {
  if (value === undefined) {
    if (!optional) report(pointer, `required: one of ${allowed.join(", ")}`);
    return false;
  }
  if (typeof value !== "string" || !allowed.includes(value)) {
    report(
      pointer,
      `must be one of ${allowed.join(", ")}${typeof value === "string" ? didYouMean(value, allowed) : ""}`,
    );
    return false;
  }
  return true;
}

export function allowOnly(
  value: Record<string, unknown>,
  pointer: string,
  allowed: string[],
  report: Report,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      report(
        `${pointer}/${escapePointer(key)}`,
        `unknown option "${key}"${didYouMean(key, allowed)}; allowed: ${allowed.join(", ")}`,
      );
  }
}

export function isDuration(value: unknown): boolean {
  return typeof value === "string" && /^\d+(ms|s|m|h|d)$/.test(value);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
