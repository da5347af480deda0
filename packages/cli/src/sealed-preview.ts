import { resolve } from "node:path";
import {
  type ChannelDefinition,
  type Codec,
  type CryptoHandlerRegistry,
  createDefaultSecretResolver,
  type HttpMethod,
  Redacted,
  type SecretResolver,
} from "@capflow/core";
import { encodeText, withCharset } from "@capflow/core/internal";

/** A rendered request as the channel's crypto handler puts it on the wire. */
export interface SealedPreview {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  /** The body text, decoded; `bytes` is what is sent. */
  body: string;
  bytes: Buffer;
  charset: string;
  /** The canonical strings signed, in order, with every secret the handler read redacted. */
  signed: string[];
}

/**
 * Seals one rendered request exactly as a worker would (the channel's handler, its keys resolved
 * from `keysDir`, the time given), and keeps what a partner's "签名错误" needs compared: the
 * bytes and headers on the wire and the string that was signed. Secrets read while sealing (an
 * MD5 key appended to the canonical string, an HMAC key) are replaced by their reference.
 */
export async function sealForPreview(parts: {
  channel: ChannelDefinition;
  cryptoHandlers: CryptoHandlerRegistry;
  keysDir: string;
  now: number;
  request: {
    method: HttpMethod;
    path: string;
    headers: Record<string, string>;
    query: Record<string, string>;
    body: unknown;
    codec: Codec;
  };
  charset: string;
}): Promise<SealedPreview> {
  const { channel, request, charset } = parts;
  const secrets = recordingResolver(createDefaultSecretResolver());
  const handler = await parts.cryptoHandlers.create(channel.crypto, {
    secrets: secrets.resolver,
    baseDir: resolve(parts.keysDir),
    clock: { now: () => parts.now },
    channel: channel.code,
  });
  const signed: string[] = [];
  const wire = await handler.sealRequest({
    ...request,
    headers: lowerCaseNames(request.headers),
    charset,
    onCanonical: (canonical) => signed.push(canonical),
  });
  const headers = { ...wire.headers };
  const contentType = headers["content-type"];
  if (contentType !== undefined) headers["content-type"] = withCharset(contentType, charset);
  const url = new URL(`${channel.baseUrl.replace(/\/$/, "")}${wire.path}`);
  for (const [key, value] of Object.entries(wire.query)) url.searchParams.set(key, value);
  return {
    method: wire.method,
    url: url.toString(),
    headers,
    body: wire.body,
    bytes: encodeText(wire.body, charset, { channel: channel.code }),
    charset,
    signed: signed.map(secrets.redact),
  };
}

/** A resolver that remembers what it resolved, so printed text can be searched for it. */
function recordingResolver(inner: SecretResolver): {
  resolver: SecretResolver;
  redact: (text: string) => string;
} {
  const seen: { reference: string; texts: string[] }[] = [];
  return {
    resolver: {
      async resolve(reference, options) {
        const value = await inner.resolve(reference, options);
        const bytes = Redacted.reveal(value);
        // A key is printed in the forms a canonical string could carry it in.
        const texts = [
          bytes.toString("utf8").trim(),
          bytes.toString("hex"),
          bytes.toString("base64"),
        ];
        seen.push({ reference, texts: texts.filter((text) => text.length >= 4) });
        return value;
      },
    },
    redact(text) {
      let out = text;
      for (const { reference, texts } of seen) {
        for (const secret of texts) out = out.split(secret).join(`<secret ${reference}>`);
      }
      return out;
    },
  };
}

function lowerCaseNames(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
}
