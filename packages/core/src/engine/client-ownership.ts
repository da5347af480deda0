import { CapflowError } from "../errors.ts";

/**
 * Whether a record (an instance, a queued start) may be shown to an upstream client: one the
 * client started, or one no client started (an operator's, the command line's, a host's own
 * `engine.start`), which every client allowed on its behavior sees. `client` undefined (asked
 * outside the intake): every record.
 */
export function visibleToClient(
  record: { upstreamClient?: string | null },
  client: string | undefined,
): boolean {
  return client === undefined || record.upstreamClient == null || record.upstreamClient === client;
}

/**
 * Refuses a start by one upstream client whose business key another client's record already has,
 * with `BUSINESS_KEY_TAKEN`. The refusal names only what the client sent (`what`: its channel and
 * behavior, or its product) and its business key: never the other record's id, state, channel or
 * input, and it comes before any comparison of input, so it is the same whatever input was sent.
 * It does tell that the key is in use: a business key names one record across every client, and
 * a collision is a configuration mistake (two clients numbering from one range) that a clear
 * refusal finds.
 */
export function checkSameClient(
  record: { upstreamClient?: string | null },
  request: { upstreamClient?: string; businessKey: string },
  what: string,
): void {
  if (visibleToClient(record, request.upstreamClient)) return;
  throw new CapflowError(
    "BUSINESS_KEY_TAKEN",
    `business key ${request.businessKey} of ${what} is already used by another upstream client; business keys must be unique across clients: send a key of your own (your record's number, with a prefix of your own if numbers can collide)`,
  );
}

/**
 * Refuses a start whose business key another record already holds where the two would be two
 * loans for one business: a product's start when a channel start or another product has the key
 * on one of the product's channels, a channel start when a product that lists the channel has the
 * key on another of its channels. `BUSINESS_KEY_TAKEN`, never a reason to route elsewhere. Another
 * client's record is refused as `checkSameClient` does, naming nothing of it.
 */
export function refuseTakenKey(
  record: { id: string; channel: string; behavior: string; upstreamClient?: string | null },
  request: { upstreamClient?: string; businessKey: string },
  what: string,
): never {
  checkSameClient(record, request, what);
  throw new CapflowError(
    "BUSINESS_KEY_TAKEN",
    `business key ${request.businessKey} of ${what} is already used by instance ${record.id} on ${record.channel}/${record.behavior}, a channel of the same business: one business key is one loan, so it is not started elsewhere; look up that instance, or send a new business key if this is another business`,
    { context: { instance: record.id, channel: record.channel, behavior: record.behavior } },
  );
}
