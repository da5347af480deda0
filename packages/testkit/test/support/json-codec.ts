import { CapflowError, type Codec } from "@capflow/core";

/** A minimal JSON codec for the mock's own tests (the engine's codecs live in core). */
export const jsonCodec: Codec = {
  format: "json",
  contentType: "application/json; charset=utf-8",
  encode: (value) => JSON.stringify(value),
  decode: (text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new CapflowError("CODEC_DECODE_FAILED", "The body is not valid JSON.", {
        cause: error,
      });
    }
  },
};
