import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ChannelDefinition,
  type Codec,
  createCryptoHandlerRegistry,
  createDefaultSecretResolver,
  type DefinitionSet,
  loadDefinitions,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";
import { createFunderCryptoHandler, type PartnerKeySet } from "@capflow/testkit";

/**
 * Checks every example folder's own tests run on its files, so that a renamed or emptied file
 * fails them (it is read, never looked for).
 */

/** The example's definitions, validated against the built-in processors and crypto handlers. */
export function loadExampleDefinitions(dir: string): Promise<DefinitionSet> {
  return loadDefinitions(join(dir, "definitions"), {
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
    cryptoHandlers: createCryptoHandlerRegistry(),
  });
}

/** What went each way in one exchange between the platform and the funder. */
export interface MirroredExchange {
  /** The request body as the funder opened it. */
  readonly request: unknown;
  /** The funder's answer as the platform opened it. */
  readonly response: unknown;
  /** A notification from the funder as the platform opened it (when the channel has callbacks). */
  readonly callback?: unknown;
}

/**
 * One request, its answer and (optionally) a notification between the channel's crypto with the
 * platform's keys and the same block mirrored with the funder's keys (`keys/partner.crypto.json`),
 * as the mock funder runs it.
 */
export async function exchangeWithMirroredFunder(
  dir: string,
  channelCode: string,
  message: {
    readonly path: string;
    readonly body: Record<string, unknown>;
    readonly answer: Record<string, unknown>;
    readonly requestCodec: Codec;
    readonly responseCodec: Codec;
    /** A notification body and its codec; none when the channel has no callbacks. */
    readonly callback?: { readonly body: Record<string, unknown>; readonly codec: Codec };
  },
): Promise<MirroredExchange> {
  const channel = JSON.parse(
    await readFile(join(dir, "definitions", `${channelCode}.channel.json`), "utf8"),
  ) as ChannelDefinition;
  const { keys } = JSON.parse(await readFile(join(dir, "keys", "partner.crypto.json"), "utf8")) as {
    keys: PartnerKeySet;
  };
  const deps = {
    secrets: createDefaultSecretResolver(),
    baseDir: join(dir, "definitions"),
    channel: channelCode,
  };
  const platform = await createCryptoHandlerRegistry().create(channel.crypto, deps);
  const funder = await createFunderCryptoHandler(channel.crypto, keys, deps);

  const wire = await platform.sealRequest({
    method: "POST",
    path: message.path,
    headers: {},
    query: {},
    body: message.body,
    codec: message.requestCodec,
  });
  const received = await funder.openRequest(wire, message.requestCodec);
  const answer = await funder.sealResponse(
    { status: 200, headers: {}, body: message.answer, codec: message.responseCodec },
    received,
  );
  const response = await platform.openResponse(answer, wire, message.responseCodec);
  if (message.callback === undefined) return { request: received.body, response: response.body };
  const notice = await funder.sealRequest({
    method: "POST",
    path: "/callbacks",
    headers: {},
    query: {},
    body: message.callback.body,
    codec: message.callback.codec,
  });
  const callback = await platform.openRequest(notice, message.callback.codec);
  return { request: received.body, response: response.body, callback: callback.body };
}
