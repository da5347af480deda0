import type { WireResponse } from "@capflow/core";
import type { Fault } from "./faults.ts";

/** Applies the faults that spoil a sealed answer on its way out (`malformedBody`, `badSignature`). */
export function spoilSealedAnswer(sealed: WireResponse, fault: Fault | undefined): WireResponse {
  switch (fault?.kind) {
    case "malformedBody":
      return { ...sealed, body: fault.body ?? malformBody(sealed.body) };
    case "badSignature":
      return (fault.tamper ?? tamperWithSignature)(sealed);
    default:
      return sealed;
  }
}

/**
 * Breaks the signature of a sealed answer without knowing the scheme: alters one character of a
 * signature header if there is one, else of the longest base64/hex run in the body (a signature,
 * a MAC, or ciphertext). The changed character stays in the same alphabet so the message still
 * parses: the failure must come from verification, not from decoding.
 */
export function tamperWithSignature(answer: WireResponse): WireResponse {
  const signatureHeader = Object.keys(answer.headers).find((name) => /sig|^mac$|-mac$/i.test(name));
  if (signatureHeader !== undefined) {
    const value = answer.headers[signatureHeader] ?? "";
    return {
      ...answer,
      headers: { ...answer.headers, [signatureHeader]: alterMiddleCharacter(value) },
    };
  }
  let longest: { index: number; length: number } | undefined;
  for (const match of answer.body.matchAll(/[A-Za-z0-9+/_-]{8,}/g)) {
    if (longest === undefined || match[0].length > longest.length) {
      longest = { index: match.index, length: match[0].length };
    }
  }
  if (longest === undefined) return { ...answer, body: alterMiddleCharacter(answer.body) };
  const run = answer.body.slice(longest.index, longest.index + longest.length);
  return {
    ...answer,
    body:
      answer.body.slice(0, longest.index) +
      alterMiddleCharacter(run) +
      answer.body.slice(longest.index + longest.length),
  };
}

/** A body that no codec or crypto handler accepts: the sealed body cut in half, or garbage. */
export function malformBody(sealedBody: string): string {
  return sealedBody.length >= 4
    ? sealedBody.slice(0, Math.floor(sealedBody.length / 2))
    : "<html>bad gateway";
}

function alterMiddleCharacter(text: string): string {
  if (text.length === 0) return "0";
  // Prefer a digit near the middle: digits are valid in base64, hex and decimal alike.
  const middle = Math.floor(text.length / 2);
  let index = middle;
  for (let distance = 0; distance < text.length; distance++) {
    const candidates = [middle + distance, middle - distance];
    const digit = candidates.find((at) => at >= 0 && at < text.length && /\d/.test(text[at] ?? ""));
    if (digit !== undefined) {
      index = digit;
      break;
    }
  }
  return text.slice(0, index) + alterCharacter(text[index] ?? "") + text.slice(index + 1);
}

function alterCharacter(character: string): string {
  if (/\d/.test(character)) return String((Number(character) + 1) % 10);
  // Stay within hex letters where possible (a-f), within the alphabet otherwise.
  if (/[a-eA-E]/.test(character)) return String.fromCharCode(character.charCodeAt(0) + 1);
  if (/[fF]/.test(character)) return String.fromCharCode(character.charCodeAt(0) - 1);
  if (/[g-yG-Y]/.test(character)) return String.fromCharCode(character.charCodeAt(0) + 1);
  if (/[zZ]/.test(character)) return String.fromCharCode(character.charCodeAt(0) - 1);
  return character === "0" ? "1" : "0";
}
