import type { CryptoDefinition } from "../../definition/types.ts";
import type {
  CertificateTrustSpec,
  ConfigurableCryptoOptions,
  CryptoKeySet,
  KeySpec,
} from "./options.ts";

/**
 * The partner's own asymmetric keys, from the partner's point of view: `signing` and `decryption`
 * are the partner's private keys; `verifying` and `encryption` are the platform's public keys.
 */
export interface PartnerKeySet {
  signing?: KeySpec;
  verifying?: KeySpec | KeySpec[];
  encryption?: KeySpec;
  decryption?: KeySpec;
  /** How the partner checks the platform's certificates, if it does. */
  trust?: CertificateTrustSpec;
}

/**
 * Options for the other side of a channel (a mock partner in tests): the same profiles run in the
 * opposite direction (`role: "partner"`), shared secrets stay, and the asymmetric keys are
 * replaced by the partner's. The platform's private keys are never carried over, nor its
 * `trust` (which checks the partner's certificates, not the platform's).
 */
export function mirrorCryptoOptions(
  options: ConfigurableCryptoOptions,
  partnerKeys: PartnerKeySet,
): ConfigurableCryptoOptions {
  const {
    signing: _s,
    verifying: _v,
    encryption: _e,
    decryption: _d,
    trust: _t,
    ...shared
  } = options.keys ?? {};
  const keys: CryptoKeySet = { ...shared, ...partnerKeys };
  return { ...options, role: options.role === "partner" ? "client" : "partner", keys };
}

/** {@link mirrorCryptoOptions} for a whole `crypto` block; other handlers are returned unchanged. */
export function mirrorCryptoDefinition(
  definition: CryptoDefinition,
  partnerKeys: PartnerKeySet,
): CryptoDefinition {
  if (definition.handler !== "configurable") return definition;
  const options = mirrorCryptoOptions(
    (definition.options ?? {}) as ConfigurableCryptoOptions,
    partnerKeys,
  );
  return { handler: definition.handler, options: options as Record<string, unknown> };
}
