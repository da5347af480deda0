import { jsonCodec, plainCryptoHandler } from "@capflow/core";
import { accept, type MockFunder, startMockFunder } from "@capflow/testkit";

/** Answers after 200 ms, so calls overlap long enough for the in-flight counter to see the limit even on a busy machine. */
export const applyEndpoint = "POST /loan/apply";
/** Answers after 5 ms: for rate tests, where overlap does not matter. */
export const queryEndpoint = "POST /loan/query";

/**
 * The testkit's mock funder without crypto (plain JSON): what the limit tests need from it is
 * its count of calls in flight per endpoint and its record of when each call arrived.
 */
export async function startPartner(): Promise<MockFunder> {
  const handler = await plainCryptoHandler.create(
    {},
    {
      secrets: {
        resolve: async (reference) => {
          throw new Error(`the plain partner has no secrets (${reference})`);
        },
      },
    },
  );
  return startMockFunder({
    handler,
    codec: jsonCodec,
    endpoints: {
      [applyEndpoint]: { answer: accept(), latencyMs: 200 },
      [queryEndpoint]: { answer: accept(), latencyMs: 5 },
    },
  });
}
