import { ownEntry } from "../definition/own-entry.ts";
import type { MessageTemplate, Outcome, ResponseDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import { maskFields } from "../message/mask.ts";
import type { RenderScope } from "../message/render-session.ts";
import type { EngineCore } from "./engine-core.ts";
import { type ExchangeRun, exchangeWithPartner } from "./partner-exchange.ts";
import type { ChannelRuntime } from "./runtime-cache.ts";

/** One call of a channel's interface that belongs to no instance (a statement download). */
export interface InterfaceCall {
  channel: string;
  interface: string;
  request: MessageTemplate;
  response?: ResponseDefinition;
  /** What the templates read as `input` (and `context`). */
  input?: Record<string, unknown>;
  /**
   * Names the call where an instance id would be (events, errors, serial numbers' scope):
   * `statement:cedar-bank/loan-daily:2026-12-05`.
   */
  purpose: string;
  signal?: AbortSignal;
}

/** The channel's answer, opened (signature verified, decrypted) and decoded. */
export interface InterfaceAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** The values of `response.extract`. */
  fields: Record<string, unknown>;
  /** The status table's reading of the answer. */
  outcome: Outcome;
  code: string;
  description?: string;
}

/**
 * Calls a channel's interface outside any instance, exactly as a step would (render, seal with
 * the channel's crypto, calendar, flow control, the engine's transport and TLS, open, decode,
 * extract, status table), for reads such as a funder's statement download. Nothing is stored:
 * use it only for interfaces that are safe to call again (queries, downloads).
 */
export async function callInterface(
  core: EngineCore,
  channel: ChannelRuntime,
  call: InterfaceCall,
): Promise<InterfaceAnswer> {
  const iface = ownEntry(channel.definition.interfaces, call.interface);
  if (!iface) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `interface "${call.interface}" is not defined in channel ${call.channel}; add it to the channel's interfaces`,
      { context: { channel: call.channel } },
    );
  }
  if (iface.idempotent === false) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `interface "${call.interface}" of channel ${call.channel} is not idempotent: only an interface that is safe to call again may be called outside an instance`,
      { context: { channel: call.channel } },
    );
  }
  const input = call.input ?? {};
  const run: ExchangeRun = {
    engine: core,
    channel,
    signal: call.signal ?? new AbortController().signal,
    record: { id: call.purpose, channel: call.channel, updatedAt: core.clock.now() },
    renderScope: (): RenderScope => ({
      input,
      context: { ...input },
      channel: { code: channel.definition.code, timeZone: channel.definition.timeZone },
      behavior: "",
      step: call.interface,
      ...(channel.accountValues ? { account: channel.accountValues } : {}),
      ...(channel.definition.constants ? { constants: channel.definition.constants } : {}),
      attempt: { instanceId: call.purpose, number: 1 },
    }),
    mask: (value) => maskFields(value, { fields: channel.definition.masking?.fields ?? {} }),
    errorContext: () => ({ channel: call.channel }),
  };
  const exchange = await exchangeWithPartner(
    run,
    {
      interfaceName: call.interface,
      request: call.request,
      response: call.response,
      kind: "poll",
    },
    core.flow,
  );
  if (exchange.kind === "failed") throw exchange.error;
  if (exchange.kind === "not-admitted") {
    throw new CapflowError(
      exchange.until === undefined ? "LIMITER_REJECTED" : "CALENDAR_CLOSED",
      `${call.channel} ${call.interface} was not called: ${exchange.reason}; try again in ${Math.ceil(exchange.retryAfterMs / 1000)}s`,
      { context: { channel: call.channel }, retryable: true },
    );
  }
  return {
    status: exchange.status,
    headers: exchange.headers,
    body: exchange.body,
    fields: exchange.fields,
    outcome: exchange.result.outcome,
    code: exchange.result.code,
    ...(exchange.result.description === undefined
      ? {}
      : { description: exchange.result.description }),
  };
}
