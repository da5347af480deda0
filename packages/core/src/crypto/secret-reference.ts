/**
 * A secret reference names where a secret lives (`env:NAME`, `file:keys/x.pem`, `vault:…`); its
 * scheme picks the resolver. Text without a scheme is most likely the secret itself, pasted where
 * a reference belongs.
 */

/** The reference's scheme (`env`, `file`, …), or undefined when it has none. */
export function referenceScheme(reference: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/.exec(reference)?.[1];
}

/** A secret reference safe to show: `inline:` ones carry the secret, scheme-less ones may be it. */
export function describeRef(reference: string): string {
  const scheme = referenceScheme(reference);
  if (scheme === "inline") return "inline:<redacted>";
  return scheme === undefined ? "<redacted: not a reference>" : reference;
}
