import { describe, expect, test } from "vitest";
import type { InstanceRecord } from "../../src/ports/instance-store.ts";
import { reopenedQuotaReservations } from "../../src/routing/reopened-quotas.ts";
import { funderChannel, product } from "./fixtures.ts";

describe("the quotas a reopened instance reserves", () => {
  const routed = {
    channel: "lanbank",
    behavior: "loan",
    account: null,
    routing: {
      product: "cash-loan",
      amount: "100.00",
      quotas: [
        {
          scope: "product:cash-loan/lanbank",
          period: "2026-01-05",
          amount: "100.00",
          limitAmount: null,
          limitCount: 1,
        },
      ],
    },
  } as unknown as InstanceRecord;
  // 2026-01-06 23:30 in UTC is already the 7th in Shanghai.
  const now = Date.UTC(2026, 0, 6, 23, 30);

  test("today's period in the channel's time zone, with the limits defined now", () => {
    const reservations = reopenedQuotaReservations({
      record: routed,
      product: product([
        { channel: "lanbank", behavior: "loan", weight: 1, quotas: { daily: { count: 3 } } },
      ]),
      channel: funderChannel("lanbank", { quotas: { loan: { total: { amount: "500.00" } } } }),
      now,
    });
    expect(reservations).toEqual([
      {
        scope: "product:cash-loan/lanbank",
        period: "2026-01-07",
        amount: "100.00",
        limitAmount: null,
        limitCount: 3,
      },
      {
        scope: "channel:lanbank/loan",
        period: "total",
        amount: "100.00",
        limitAmount: "500.00",
        limitCount: null,
      },
    ]);
  });

  test("a quota held but no longer defined moves to today without a limit, so no hold stays behind", () => {
    const reservations = reopenedQuotaReservations({
      record: routed,
      product: undefined,
      channel: funderChannel("lanbank"),
      now,
    });
    expect(reservations).toEqual([
      {
        scope: "product:cash-loan/lanbank",
        period: "2026-01-07",
        amount: "100.00",
        limitAmount: null,
        limitCount: null,
      },
    ]);
  });
});
