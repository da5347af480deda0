import type { PublicKey } from "../keys/loaded-keys.ts";

/**
 * The keys that may verify a message naming `keyId` (a certificate serial, in any case). Keys
 * configured without an id stay candidates, so adding key ids is never a breaking change; without
 * a key id every key is tried (rotation).
 */
export function selectVerificationKeys(keys: PublicKey[], keyId: string | undefined): PublicKey[] {
  if (keyId === undefined || keyId === "") return keys;
  const wanted = keyId.toUpperCase();
  const byId = keys.filter((k) => k.id !== undefined && k.id.toUpperCase() === wanted);
  return byId.length > 0 ? byId : keys.filter((k) => k.id === undefined);
}
