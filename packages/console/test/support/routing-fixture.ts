import type { InstanceRecord } from "@capflow/core";
import { pushDefinitions } from "@capflow/store-knex";
import type { ConsoleServer } from "./console-server.ts";

/**
 * A credit line product over Lan Bank and two more channels at the same mock funder: Lan Bank
 * takes two in four, `lanbank-east` one (Lan Bank's declined applications go on to it), and
 * `lanbank-north` only applications over 1,000,000, so none of the fixture's. One business of
 * `fixtureKeys.declinedOnce` is started, declined by Lan Bank, failed over to `lanbank-east` and
 * approved there. Returns the two instances, first to last.
 */
export async function routeWithFailover(
  server: ConsoleServer,
  key: string,
): Promise<{ declined: InstanceRecord; approved: InstanceRecord }> {
  const channel = (await server.db.definitions.getChannel("lanbank"))!.definition;
  const credit = (await server.db.definitions.getBehavior("lanbank", "credit"))!.definition;
  const copies = ["lanbank-east", "lanbank-north"];
  await pushDefinitions(server.db, {
    channels: copies.map((code) => ({ ...channel, code, name: code })),
    behaviors: copies.map((code) => ({ ...credit, channel: code })),
    products: [
      {
        code: "credit-line",
        name: "Credit line",
        amount: "input.amount",
        failover: { maxChannels: 2 },
        channels: [
          {
            channel: "lanbank",
            behavior: "credit",
            weight: 2,
            quotas: { daily: { amount: "200000.00", count: 100 } },
          },
          { channel: "lanbank-east", behavior: "credit", weight: 1 },
          {
            channel: "lanbank-north",
            behavior: "credit",
            weight: 1,
            when: "double(input.amount) > 1000000.0",
          },
        ],
      },
    ],
  });
  const first = await server.engine.start({
    product: "credit-line",
    businessKey: key,
    input: server.input(key),
  });
  if (first.channel !== "lanbank") throw new Error(`${key} went to ${first.channel}, not lanbank`);
  const runAll = async () => {
    while ((await server.engine.runDue({ limit: 16 })) > 0) {}
  };
  await runAll();
  // The first poll of awaitResult at lanbank-east answers approved.
  server.clock.advance(6 * 60_000);
  await runAll();
  const business = await server.engine.listInstances({ product: "credit-line", businessKey: key });
  const [declined, approved] = business;
  if (
    business.length !== 2 ||
    declined?.status !== "failed" ||
    approved?.channel !== "lanbank-east" ||
    approved.status !== "succeeded"
  ) {
    throw new Error(
      `${key} should have failed over from lanbank to lanbank-east and been approved: ${JSON.stringify(business.map((i) => [i.channel, i.status]))}`,
    );
  }
  return { declined, approved };
}
