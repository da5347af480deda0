import { parseDuration } from "../../definition/duration.ts";
import type { ErrorContext } from "../../errors.ts";
import type { Codec } from "../../message/codec.ts";
import type { Clock } from "../../ports/clock.ts";
import type { OpenedMessage } from "../handler.ts";
import { compileEnvelopeEncryption, type EnvelopeEncryption } from "./envelope-encryption.ts";
import type { LoadedKeys } from "./load-keys.ts";
import type { IncomingMessage, OutgoingMessage, SealedMessage } from "./messages.ts";
import { openMessage } from "./open-message.ts";
import type { FieldLocation, MessageProfile } from "./options.ts";
import { locationOf } from "./placement.ts";
import { compileResourceEncryption, type ResourceEncryption } from "./resource-encryption.ts";
import { sealMessage } from "./seal-message.ts";
import { type CompiledSignature, compileSignature } from "./signature-part.ts";
import { createTimestampCodec, type TimestampCodec } from "./timestamp.ts";

/** One profile (request, response, callback, acknowledgement) compiled against loaded keys. */
export interface ProfileCodec {
  seal(message: OutgoingMessage): Promise<SealedMessage>;
  open(message: IncomingMessage, codec: Codec): Promise<OpenedMessage>;
}

/** A profile's parts, each built once; sealing and opening only do per-message work. */
export interface CompiledProfile {
  profile: MessageProfile;
  keys: LoadedKeys;
  clock: Pick<Clock, "now">;
  context: ErrorContext;
  timestamp: TimestampCodec | undefined;
  timestampAt: FieldLocation | undefined;
  /** Replay window of inbound timestamps, in milliseconds. */
  windowMs: number | undefined;
  nonceAt: FieldLocation | undefined;
  signature: CompiledSignature | undefined;
  encryption: EnvelopeEncryption | undefined;
  resource: ResourceEncryption | undefined;
  /** Whether the business body itself is read as fields (no envelope, but fields are placed or signed). */
  needsBodyObject: boolean;
}

export function compileProfile(
  profile: MessageProfile | undefined,
  keys: LoadedKeys,
  clock: Pick<Clock, "now">,
  context: ErrorContext,
  /** Private-key operations on libuv's thread pool (`CryptoHandlerDeps.cryptoThreadPool`). */
  threadPool = true,
): ProfileCodec {
  const p = profile ?? {};
  const compiled: CompiledProfile = {
    profile: p,
    keys,
    clock,
    context,
    timestamp: p.timestamp === undefined ? undefined : createTimestampCodec(p.timestamp),
    timestampAt: locationOf(p.timestamp),
    windowMs: p.timestamp?.window === undefined ? undefined : parseDuration(p.timestamp.window),
    nonceAt: locationOf(p.nonce),
    signature:
      p.signature === undefined
        ? undefined
        : compileSignature(p.signature, keys, context, clock, threadPool),
    encryption:
      p.encryption === undefined
        ? undefined
        : compileEnvelopeEncryption(p.encryption, keys, context, threadPool),
    resource:
      p.resource === undefined ? undefined : compileResourceEncryption(p.resource, keys, context),
    needsBodyObject:
      p.encryption === undefined &&
      (p.fields !== undefined ||
        p.timestamp?.in === "body" ||
        p.nonce?.in === "body" ||
        p.keyId?.in === "body" ||
        p.signature?.placement.in === "body" ||
        p.signature?.canonical.kind === "sortedFields" ||
        (p.signature?.canonical.kind === "template" &&
          /\{field:/.test(p.signature.canonical.template))),
  };
  return {
    seal: (message) => sealMessage(compiled, message),
    open: (message, codec) => openMessage(compiled, message, codec),
  };
}
