/**
 * The quick start's funder: the testkit's mock on 127.0.0.1:9090 (MOCK_PORT to change it), plain
 * JSON, accepting every order. Runs until Ctrl-C.
 *
 *     pnpm --filter @capflow/example-quick-start mock
 */
import { jsonCodec, plainCryptoHandler } from "@capflow/core";
import { startMockFunder } from "@capflow/testkit";

const funder = await startMockFunder({
  handler: await plainCryptoHandler.create(
    {},
    {
      secrets: {
        resolve: async (reference) => {
          throw new Error(`the quick start's funder has no secrets (${reference})`);
        },
      },
    },
  ),
  codec: jsonCodec,
  port: Number(process.env.MOCK_PORT ?? 9090),
  endpoints: {
    "POST /pay/apply": {
      answer: (request) => ({
        body: {
          code: "SUCCESS",
          payNo: `P-${String((request.body as { orderNo?: string }).orderNo)}`,
        },
      }),
    },
  },
});
console.log(`mock funder on ${funder.url}; stop with Ctrl-C`);
process.once("SIGINT", () => void funder.close());
process.once("SIGTERM", () => void funder.close());
