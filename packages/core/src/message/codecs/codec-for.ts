import type { BodyFormat } from "../../definition/types.ts";
import { CapflowError } from "../../errors.ts";
import type { Codec, CodecOptions } from "../codec.ts";
import { formCodec } from "./form-codec.ts";
import { jsonCodec } from "./json-codec.ts";
import { textCodec } from "./text-codec.ts";
import { xmlCodec } from "./xml-codec.ts";

const codecs: Readonly<Record<BodyFormat, Codec>> = {
  json: jsonCodec,
  xml: xmlCodec,
  form: formCodec,
  text: textCodec,
};

/**
 * The codec of a body format. With `options` (e.g. a step's `xml` settings), the codec returned
 * uses them whenever `encode`/`decode` get none, so later stages (the crypto handler) can encode
 * without knowing about format settings.
 */
export function codecFor(format: BodyFormat, options?: CodecOptions): Codec {
  const codec = Object.hasOwn(codecs, format) ? codecs[format] : undefined;
  if (codec === undefined) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `Unknown body format ${JSON.stringify(format)}; use one of ${Object.keys(codecs).join(", ")}.`,
    );
  }
  if (options === undefined) return codec;
  return {
    format: codec.format,
    contentType: codec.contentType,
    encode: (value, given) => codec.encode(value, given ?? options),
    decode: (text, given) => codec.decode(text, given ?? options),
  };
}
