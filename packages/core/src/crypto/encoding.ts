/** How binary values (signatures, ciphertexts, wrapped keys) are written as text on the wire. */
export type BinaryEncoding = "hex" | "hex-upper" | "base64" | "base64url";

export function encodeBinary(bytes: Buffer, encoding: BinaryEncoding): string {
  switch (encoding) {
    case "hex":
      return bytes.toString("hex");
    case "hex-upper":
      return bytes.toString("hex").toUpperCase();
    case "base64":
      return bytes.toString("base64");
    case "base64url":
      return bytes.toString("base64url");
  }
}

/**
 * Decodes strictly: returns undefined for text that is not canonical in the encoding (Buffer.from
 * silently skips bad characters, which would let altered text decode to the same bytes).
 */
export function decodeBinary(text: string, encoding: BinaryEncoding): Buffer | undefined {
  if (encoding === "hex" || encoding === "hex-upper") {
    if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
    return Buffer.from(text, "hex");
  }
  const bytes = Buffer.from(text, encoding);
  const again = bytes.toString(encoding);
  const normalise = (s: string) => s.replace(/=+$/, "");
  return normalise(again) === normalise(text) ? bytes : undefined;
}
