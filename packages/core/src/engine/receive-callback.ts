import type { OpenedMessage } from "../crypto/handler.ts";
import type { CallbackDefinition, HttpMethod } from "../definition/types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { evaluateExpression } from "../message/cel.ts";
import {
  decodeBytes,
  defaultCharset,
  encodeText,
  normaliseCharset,
  readingCharset,
  withCharset,
} from "../message/charset.ts";
import { codecFor } from "../message/codecs/codec-for.ts";
import { extractFields } from "../message/extract-fields.ts";
import { maskFields } from "../message/mask.ts";
import { findNulByte } from "../message/nul-bytes.ts";
import { renderMessage } from "../message/render-message.ts";
import { applyStatusTable } from "../message/status-table.ts";
import type { CallbackPayload } from "./callback-payload.ts";
import type { EngineCore } from "./engine-core.ts";
import { newId } from "./new-id.ts";
import { type RawNotification, rawMessageKeyHelp } from "./raw-message-keyring.ts";
import type { ChannelRuntime } from "./runtime-cache.ts";
import { sealRawMessage } from "./seal-raw-message.ts";

/** An inbound HTTP request as the host service's web framework received it. */
export interface InboundHttpRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query?: Record<string, string>;
  /**
   * The body's bytes exactly as received: they are decoded in the callback's charset (strictly),
   * and signatures cover them. A string is taken as the body already decoded.
   */
  body: Uint8Array | string;
}

/** What the host sends back to the partner. */
export interface CallbackAcknowledgement {
  status: number;
  headers: Record<string, string>;
  /** The body's text. */
  body: string;
  /** The body as it goes on the wire: `body` encoded in the callback's charset. */
  bytes: Uint8Array;
  /** False when the callback was refused (bad signature, malformed); the partner should resend. */
  accepted: boolean;
  /** True when this notification was already received (acknowledged again, applied once). */
  duplicate: boolean;
  /** Why it was refused, for the host's logs. Never contains secrets or the payload. */
  error?: { code: string; message: string };
}

/**
 * Stores before it processes (concepts.md, "The money rules"): a verified callback goes to the insert-only inbox,
 * deduplicated by the channel's dedupe key, then the waiting instance is woken. Applying it is
 * the instance's next step, under compare-and-set, so it happens at most once and never moves a
 * settled instance backwards.
 */
export async function receiveCallback(
  core: EngineCore,
  channel: ChannelRuntime,
  callbackName: string,
  request: InboundHttpRequest,
): Promise<CallbackAcknowledgement> {
  const code = channel.definition.code;
  const callbacks = channel.definition.callbacks ?? {};
  // Own keys only: "constructor" or "__proto__" in a URL must not find Object's members.
  const definition = Object.hasOwn(callbacks, callbackName) ? callbacks[callbackName] : undefined;
  if (!definition) {
    throw new CapflowError(
      "CALLBACK_UNKNOWN",
      `channel ${code} has no callback "${callbackName}"; check the URL the partner calls`,
      {
        context: { channel: code, callback: callbackName },
      },
    );
  }

  if (definition.keepRawBody === true && core.rawMessageKeys === undefined) {
    // Refused before anything is stored: the partner resends once the key is configured.
    throw new CapflowError(
      "RAW_MESSAGE_KEY_MISSING",
      `${code} callback "${callbackName}" keeps notifications as received (keepRawBody), stored encrypted: ${rawMessageKeyHelp}`,
      { context: { channel: code, callback: callbackName } },
    );
  }

  let opened: OpenedMessage;
  let businessKey: string;
  let dedupeKey: string;
  let payload: CallbackPayload;
  let raw: RawNotification | undefined;
  const headers = lowerCaseHeaders(request.headers);
  const declared = definition.charset ?? channel.definition.charset;
  try {
    const charset = readingCharset(headers["content-type"], declared, "the notification", {
      channel: code,
      callback: callbackName,
    });
    const text =
      typeof request.body === "string"
        ? request.body
        : decodeBytes(request.body, charset, { channel: code, callback: callbackName });
    if (definition.keepRawBody === true) raw = rawBody(text, request.body, charset);
    opened = await channel.handler.openRequest(
      {
        method: request.method.toUpperCase() as HttpMethod,
        path: request.path,
        headers,
        query: request.query ?? {},
        body: text,
        charset,
      },
      codecFor(definition.format, { charset }),
    );
    const env = { body: opened.body, headers: opened.headers, query: opened.query };
    if (definition.match !== undefined && evaluateExpression(definition.match, env) !== true) {
      throw new CapflowError(
        "CALLBACK_MISMATCH",
        `the notification does not satisfy the match of ${code} callback "${callbackName}": it belongs to another callback; check which URL the partner sends this kind of notification to`,
        { context: { channel: code, callback: callbackName } },
      );
    }
    businessKey = requiredKey(
      evaluateExpression(definition.correlation, env),
      "correlation",
      code,
      callbackName,
    );
    dedupeKey = requiredKey(
      evaluateExpression(definition.dedupeKey, env),
      "dedupeKey",
      code,
      callbackName,
    );
    const fields = extractFields(definition.extract ?? {}, env);
    const status = definition.statusTable
      ? applyStatusTable(definition.statusTable, env)
      : { outcome: "unknown" as const, code: null };
    const rules = channel.definition.masking ?? { fields: {} };
    // The inbox keeps personal data masked, as step logs do: routes read the extracted fields.
    const masked = maskFields(opened.body, rules);
    payload = {
      body: masked,
      headers: opened.headers,
      fields,
      outcome: status.outcome,
      code: status.code ?? "",
      masked,
    };
    const nul = findNulByte(opened.body);
    if (nul !== undefined) {
      throw new CapflowError(
        "CALLBACK_REJECTED",
        `the notification holds a NUL character (U+0000) at ${nul}, which cannot be stored`,
        { context: { channel: code, callback: callbackName, pointer: nul } },
      );
    }
  } catch (error) {
    const failure = !isCapflowError(error)
      ? new CapflowError("CALLBACK_REJECTED", "the callback could not be opened", { cause: error })
      : isCapflowError(error, "CODEC_DECODE_FAILED")
        ? // Its message quotes the start of the body: decrypted text, on an encrypting channel,
          // that the clear refusal must not carry back.
          new CapflowError(
            "CODEC_DECODE_FAILED",
            `the callback body is not valid ${definition.format}`,
            { cause: error, context: { channel: code, callback: callbackName } },
          )
        : error;
    core.emit({
      type: "callback.rejected",
      channel: code,
      callback: callbackName,
      code: failure.code,
      message: failure.message,
    });
    return reject(core, channel, definition, failure);
  }

  const { duplicate } = await core.store.insertInbox({
    id: newId(core.clock.now()),
    channel: code,
    account: channel.account ?? null,
    callback: callbackName,
    dedupeKey,
    businessKey,
    payload,
    ...(raw === undefined ? {} : { raw: sealRawMessage(core, raw, "inbox") }),
    receivedAt: core.clock.now(),
  });
  await core.store.wake({
    channel: code,
    businessKey,
    callback: callbackName,
    now: core.clock.now(),
  });
  core.emit({
    type: "callback.received",
    channel: code,
    callback: callbackName,
    businessKey,
    duplicate,
  });
  const ack = await renderAck(
    core,
    channel,
    definition,
    "body",
    definition.ack.status ?? 200,
    { ...payload, body: opened.body, masked: undefined },
    opened,
  );
  return { ...ack, accepted: true, duplicate };
}

/** The notification as received: its text, and its exact bytes where they are not its UTF-8. */
function rawBody(text: string, body: Uint8Array | string, charset: string): RawNotification {
  return typeof body === "string" || normaliseCharset(charset) === defaultCharset
    ? { body: text }
    : { body: text, bytes: Buffer.from(body).toString("base64") };
}

/** Failures of opening a callback (decrypt, verify, decode): the sender is told only one thing. */
const openFailures = new Set([
  "CRYPTO_DECRYPT_FAILED",
  "CRYPTO_VERIFY_FAILED",
  "CODEC_DECODE_FAILED",
]);

async function reject(
  core: EngineCore,
  channel: ChannelRuntime,
  definition: CallbackDefinition,
  error: CapflowError,
): Promise<CallbackAcknowledgement> {
  const ack = definition.ack;
  const status = ack.rejectStatus ?? 400;
  const summary = { code: error.code, message: error.message };
  // The sender learns only that opening failed, not which check: telling a bad padding from a bad
  // signature would let anyone decrypt a captured message one query at a time (padding oracle).
  // Nor what else went wrong on this side (an expression, a route): that is for the host's logs.
  const told = openFailures.has(error.code)
    ? { code: "CALLBACK_REJECTED", message: "the callback could not be verified" }
    : { code: "CALLBACK_REJECTED", message: "the callback could not be processed" };
  const empty: OpenedMessage = { headers: {}, query: {}, body: {}, text: "" };
  try {
    const rendered = await renderAck(
      core,
      channel,
      definition,
      "rejectBody",
      status,
      { error: told },
      empty,
      true,
    );
    return { ...rendered, accepted: false, duplicate: false, error: summary };
  } catch {
    return {
      status,
      headers: {},
      body: "",
      bytes: new Uint8Array(),
      accepted: false,
      duplicate: false,
      error: summary,
    };
  }
}

async function renderAck(
  core: EngineCore,
  channel: ChannelRuntime,
  callback: CallbackDefinition,
  which: "body" | "rejectBody",
  status: number,
  data: Record<string, unknown>,
  opened: OpenedMessage,
  unsealed = false,
): Promise<{ status: number; headers: Record<string, string>; body: string; bytes: Uint8Array }> {
  // Written in the charset the notification came in, else the one the callback declares.
  const ack = callback.ack;
  const charset =
    opened.charset ?? callback.charset ?? channel.definition.charset ?? defaultCharset;
  const codec = codecFor(ack.format, { ...(ack.xml ? { xml: ack.xml } : {}), charset });
  const template = {
    format: ack.format,
    ...(ack[which] === undefined ? {} : { body: ack[which] }),
    ...(ack.headers ? { headers: ack.headers } : {}),
  };
  const rendered = await renderMessage(
    template,
    {
      input: {},
      context: {},
      channel: { code: channel.definition.code, timeZone: channel.definition.timeZone },
      step: "acknowledgement",
      attempt: { instanceId: "", number: 1 },
      ...(channel.accountValues ? { account: channel.accountValues } : {}),
      ...(channel.definition.constants ? { constants: channel.definition.constants } : {}),
      // Acknowledgement templates see the notification at the root: `{{body.notifyNo}}`.
      extra: { ...data, callback: data },
    },
    { registry: core.processors, clock: core.clock },
  );
  const contentTypeOf = (headers: Record<string, string>) =>
    withCharset(headers["content-type"] ?? codec.contentType, charset);
  const context = { channel: channel.definition.code };
  if (unsealed) {
    // A refused callback is answered in clear: there is no verified request to answer to.
    const body = rendered.body === undefined ? "" : codec.encode(rendered.body);
    return {
      status,
      headers: { ...rendered.headers, "content-type": contentTypeOf(rendered.headers) },
      body,
      bytes: encodeText(body, charset, context),
    };
  }
  const wire = await channel.handler.sealResponse(
    { status, headers: rendered.headers, body: rendered.body, codec, charset },
    opened,
  );
  return {
    status: wire.status,
    headers: { ...wire.headers, "content-type": contentTypeOf(wire.headers) },
    body: wire.body,
    bytes: encodeText(wire.body, charset, context),
  };
}

function requiredKey(value: unknown, what: string, channel: string, callback: string): string {
  if (value === null || value === undefined || value === "") {
    throw new CapflowError(
      "CALLBACK_REJECTED",
      `the ${what} expression of ${channel} callback "${callback}" gave no value for this notification`,
      {
        context: { channel, callback },
      },
    );
  }
  return String(value);
}

function lowerCaseHeaders(headers: InboundHttpRequest["headers"]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined)
      result[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return result;
}
