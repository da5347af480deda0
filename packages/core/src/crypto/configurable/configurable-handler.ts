import type { ErrorContext } from "../../errors.ts";
import { defaultCharset } from "../../message/charset.ts";
import type { CryptoHandler, OpenedMessage } from "../handler.ts";
import type { CryptoHandlerDeps, CryptoHandlerFactory } from "../handler-registry.ts";
import { compileProfile, type ProfileCodec } from "./compile-profile.ts";
import { loadKeys } from "./load-keys.ts";
import type { ConfigurableCryptoOptions, MessageProfile } from "./options.ts";
import { validateConfigurableOptions } from "./validate-options.ts";

/**
 * The built-in `configurable` handler: canonicalisation, signature, encryption, key wrapping and
 * placement composed from the channel's JSON (see options.ts and docs/crypto.md). Keys are
 * resolved and parsed once, here; the per-message path only runs OpenSSL primitives (and
 * sm-crypto-v2 for SM2).
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
    compileProfile(profile, keys, clock, { ...context, message }, deps.cryptoThreadPool ?? true);
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
      const charset = plain.charset ?? defaultCharset;
      const sealed = await outRequest.seal({
        ...plain,
        headers: lowerCase(plain.headers),
        query: { ...plain.query },
        charset,
      });
      return {
        method: plain.method,
        path: plain.path,
        headers: sealed.headers,
        query: sealed.query,
        body: sealed.body,
        charset,
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
          charset: wire.charset ?? defaultCharset,
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
          charset: wire.charset ?? defaultCharset,
        },
        codec,
      );
    },
    async sealResponse(plain) {
      const sealed = await outResponse.seal({
        method: "",
        path: "",
        headers: lowerCase(plain.headers),
        query: {},
        body: plain.body,
        codec: plain.codec,
        charset: plain.charset ?? defaultCharset,
      });
      return {
        status: plain.status,
        headers: sealed.headers,
        body: sealed.body,
        charset: plain.charset ?? defaultCharset,
      };
    },
  };
}

function lowerCase(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}
