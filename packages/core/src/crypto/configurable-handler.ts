import type { ErrorContext } from "../errors.ts";
import type {
  ConfigurableCryptoOptions,
  CryptoKeySet,
  KeySpec,
  MessageProfile,
} from "./configurable-options.ts";
import { configInvalid } from "./failures.ts";
import type { CryptoHandler, OpenedMessage } from "./handler.ts";
import type { CryptoHandlerDeps, CryptoHandlerFactory } from "./handler-registry.ts";
import type { KeyFamily, KeyLoadContext } from "./keys/load-key.ts";
import { loadPrivateKey, loadPublicKey, loadSecretKey } from "./keys/load-key.ts";
import type { PrivateKey, PublicKey, SecretKey } from "./keys/loaded-keys.ts";
import {
  compileProfile,
  type LoadedKeys,
  type OutgoingMessage,
  type ProfileCodec,
} from "./message-profile.ts";
import { validateConfigurableOptions } from "./validate-options.ts";

/**
 * The built-in `configurable` handler: canonicalisation, signature, encryption, key wrapping and
 * placement composed from the channel's JSON (see configurable-options.ts and docs/crypto.md).
 * Keys are resolved and parsed once, here; the per-message path only runs OpenSSL primitives
 * (and sm-crypto-v2 for SM2).
 */
export const configurableCryptoHandler: CryptoHandlerFactory<ConfigurableCryptoOptions> = {
  name: "configurable",
  validateOptions: validateConfigurableOptions,
  create: createConfigurableHandler,
};

export async function createConfigurableHandler(
  options: ConfigurableCryptoOptions,
  deps: CryptoHandlerDeps,
): Promise<CryptoHandler> {
  const context: ErrorContext = {
    handler: "configurable",
    ...(deps.channel === undefined ? {} : { channel: deps.channel }),
  };
  const keys = await loadKeys(options, deps, context);
  const clock = deps.clock ?? { now: () => Date.now() };
  const compile = (profile: MessageProfile | undefined, message: string): ProfileCodec =>
    compileProfile(profile, keys, clock, { ...context, message });
  const request = compile(options.request, "request");
  const response = compile(options.response, "response");
  const callback = compile(options.callback, "callback");
  const callbackAck = compile(options.callbackAck, "callbackAck");
  // The partner side runs the same profiles in the other direction.
  const partner = options.role === "partner";
  const outRequest = partner ? callback : request;
  const inResponse = partner ? callbackAck : response;
  const inRequest = partner ? request : callback;
  const outResponse = partner ? response : callbackAck;

  return {
    async sealRequest(plain) {
      const outgoing: OutgoingMessage = {
        ...plain,
        headers: lowerCase(plain.headers),
        query: { ...plain.query },
      };
      const sealed = await outRequest.seal(outgoing);
      return {
        method: plain.method,
        path: plain.path,
        headers: sealed.headers,
        query: sealed.query,
        body: sealed.body,
      };
    },
    async openResponse(wire, sent, codec): Promise<OpenedMessage> {
      return inResponse.open(
        {
          method: sent.method,
          path: sent.path,
          headers: lowerCase(wire.headers),
          query: {},
          body: wire.body,
        },
        codec,
      );
    },
    async openRequest(wire, codec) {
      return inRequest.open(
        {
          method: wire.method,
          path: wire.path,
          headers: lowerCase(wire.headers),
          query: wire.query,
          body: wire.body,
        },
        codec,
      );
    },
    async sealResponse(plain, opened) {
      void opened;
      const sealed = await outResponse.seal({
        method: "",
        path: "",
        headers: lowerCase(plain.headers),
        query: {},
        body: plain.body,
        codec: plain.codec,
      });
      return { status: plain.status, headers: sealed.headers, body: sealed.body };
    },
  };
}

function lowerCase(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** Which key families (RSA or SM2) the profiles need for each asymmetric role. */
function families(options: ConfigurableCryptoOptions, context: ErrorContext) {
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
    if (alg?.startsWith("rsa-")) sign.push("rsa");
    if (alg === "sm2-sm3") sign.push("sm2");
    const w = p?.encryption?.wrap;
    if (w !== undefined) wrap.push(w.startsWith("sm2") ? "sm2" : "rsa");
  }
  return { signature: pick(sign, "signing"), wrap: pick(wrap, "encryption") };
}

async function loadKeys(
  options: ConfigurableCryptoOptions,
  deps: CryptoHandlerDeps,
  context: ErrorContext,
): Promise<LoadedKeys> {
  const set: CryptoKeySet = options.keys ?? {};
  const family = families(options, context);
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
  return {
    signing,
    verifying: verifyKeys,
    encryption,
    decryption,
    secret,
    contentKey,
    resourceKey,
  };
}
