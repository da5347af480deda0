import { CapflowError } from "../../errors.ts";
import { payloadExcerpt } from "./payload-excerpt.ts";

export function decodeError(format: string, text: string, reason: string, cause?: unknown) {
  return new CapflowError(
    "CODEC_DECODE_FAILED",
    `The ${format} body could not be decoded: ${reason}. Body starts ${payloadExcerpt(text)}.`,
    { context: { format }, ...(cause === undefined ? {} : { cause }) },
  );
}

export function encodeError(format: string, reason: string, cause?: unknown) {
  return new CapflowError(
    "CODEC_ENCODE_FAILED",
    `The ${format} body could not be encoded: ${reason}.`,
    {
      context: { format },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}
