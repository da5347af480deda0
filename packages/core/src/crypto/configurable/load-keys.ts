import type { ErrorContext } from "../../errors.ts";
import {
  createTrustedCertificates,
  type TrustedCertificates,
} from "../certificates/trusted-certificates.ts";
import { configInvalid } from "../failures.ts";
import type { CryptoHandlerDeps } from "../handler-registry.ts";
import {
  type KeyFamily,
  type KeyLoadContext,
  loadCertificate,
  loadPrivateKey,
  loadPublicKey,
  loadSecretKey,
} from "../keys/load-key.ts";
import type { PrivateKey, PublicKey, SecretKey } from "../keys/loaded-keys.ts";
import type { ConfigurableCryptoOptions, CryptoKeySet, KeySpec } from "./options.ts";

/** A channel's keys by role, parsed once when the handler is created. */
export interface LoadedKeys {
  signing: PrivateKey | undefined;
  verifying: PublicKey[];
  encryption: PublicKey | undefined;
  decryption: PrivateKey | undefined;
  secret: SecretKey | undefined;
  contentKey: SecretKey | undefined;
  resourceKey: SecretKey | undefined;
  /** `keys.trust`: checks the certificates of `verifying` (path, dates, pin). */
  trust: TrustedCertificates | undefined;
}

/** Resolves and parses every configured key; the only place the handler touches secrets. */
export async function loadKeys(
  options: ConfigurableCryptoOptions,
  deps: CryptoHandlerDeps,
  context: ErrorContext,
): Promise<LoadedKeys> {
  const set: CryptoKeySet = options.keys ?? {};
  const family = keyFamilies(options, context);
  const ctx = (role: string): KeyLoadContext => ({
    secrets: deps.secrets,
    ...(deps.baseDir === undefined ? {} : { baseDir: deps.baseDir }),
    context: { ...context, role },
  });
  const optional = <T>(spec: KeySpec | undefined, load: (spec: KeySpec) => Promise<T>) =>
    spec === undefined ? Promise.resolve(undefined) : load(spec);
  const verifying =
    set.verifying === undefined
      ? []
      : Array.isArray(set.verifying)
        ? set.verifying
        : [set.verifying];
  const [signing, verifyKeys, encryption, decryption, secret, contentKey, resourceKey] =
    await Promise.all([
      optional<PrivateKey>(set.signing, (s) => loadPrivateKey(s, family.signature, ctx("signing"))),
      Promise.all(verifying.map((s) => loadPublicKey(s, family.signature, ctx("verifying")))),
      optional<PublicKey>(set.encryption, (s) => loadPublicKey(s, family.wrap, ctx("encryption"))),
      optional<PrivateKey>(set.decryption, (s) =>
        loadPrivateKey(s, family.wrap, ctx("decryption")),
      ),
      optional<SecretKey>(set.secret, (s) => loadSecretKey(s, ctx("secret"))),
      optional<SecretKey>(set.contentKey, (s) => loadSecretKey(s, ctx("contentKey"))),
      optional<SecretKey>(set.resourceKey, (s) => loadSecretKey(s, ctx("resourceKey"))),
    ]);
  let trust: TrustedCertificates | undefined;
  if (set.trust !== undefined) {
    const spec = set.trust;
    const [anchors, intermediates] = await Promise.all([
      Promise.all(spec.anchors.map((s) => loadCertificate(s, ctx("trust")))),
      Promise.all((spec.intermediates ?? []).map((s) => loadCertificate(s, ctx("trust")))),
    ]);
    verifyKeys.forEach((key, index) => {
      if (key.certificate === undefined)
        throw configInvalid(
          "with keys.trust, every verifying key is an X.509 certificate, whose path is checked; give the partner's certificate, not its bare public key",
          { ...context, pointer: `/keys/verifying/${index}` },
        );
    });
    trust = createTrustedCertificates(
      {
        anchors,
        intermediates,
        pin: {
          ...(spec.serial === undefined ? {} : { serial: spec.serial }),
          ...(spec.subject === undefined ? {} : { subject: spec.subject }),
        },
      },
      deps.clock ?? { now: () => Date.now() },
    );
  }
  return {
    trust,
    signing,
    verifying: verifyKeys,
    encryption,
    decryption,
    secret,
    contentKey,
    resourceKey,
  };
}

/** Which key families (RSA or SM2) the profiles need for each asymmetric role. */
function keyFamilies(options: ConfigurableCryptoOptions, context: ErrorContext) {
  const profiles = [options.request, options.response, options.callback, options.callbackAck];
  const pick = (uses: KeyFamily[], role: string): KeyFamily => {
    const set = new Set(uses);
    if (set.size > 1)
      throw configInvalid(
        `keys.${role} is used by both RSA and SM2 parts; a channel uses one family per role`,
        { ...context, pointer: `/keys/${role}` },
      );
    return set.values().next().value ?? "rsa";
  };
  const sign: KeyFamily[] = [];
  const wrap: KeyFamily[] = [];
  for (const p of profiles) {
    const alg = p?.signature?.algorithm;
    if (alg?.startsWith("rsa-") || alg === "cms-rsa-sha256") sign.push("rsa");
    if (alg === "sm2-sm3" || alg === "cms-sm2-sm3") sign.push("sm2");
    const w = p?.encryption?.wrap;
    if (w !== undefined) wrap.push(w.startsWith("sm2") ? "sm2" : "rsa");
  }
  return { signature: pick(sign, "signing"), wrap: pick(wrap, "encryption") };
}
