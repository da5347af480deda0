import { Decimal } from "decimal.js";
import type { ProductDefinition } from "../definition/product-types.ts";
import type { ChannelDefinition } from "../definition/types.ts";
import type { OperatorActionPreview } from "../engine/operator-action-preview.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import type { InstanceRecord, InstanceStore } from "../ports/instance-store.ts";
import type { QuotaReservation } from "../ports/routing.ts";
import { dayIn, quotaReservations } from "./quota-reservations.ts";

/**
 * What an instance reopened after its quota holds were released reserves: a new reservation, as
 * if it started now. The quotas its product, channel and account define now, today's in the
 * channel's time zone, for the amount it was routed with. A product that no longer routes to the
 * channel (or is gone) has no quota of its own there; the channel's and the account's still apply.
 * A quota it held that is no longer defined moves to today too, without a limit: each released
 * hold is taken up by a reservation of its scope and kind, so none stays behind.
 */
export function reopenedQuotaReservations(input: {
  record: InstanceRecord;
  product: ProductDefinition | undefined;
  channel: ChannelDefinition | undefined;
  now: number;
}): QuotaReservation[] {
  const { record, channel } = input;
  if (record.routing === null) return [];
  if (channel === undefined) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `channel "${record.channel}" is not defined, and reopening instance ${record.id} reserves its quotas in the channel's day; push the channel's definition first`,
      { context: { instance: record.id, channel: record.channel } },
    );
  }
  const entry = input.product?.channels.find(
    (candidate) => candidate.channel === record.channel && candidate.behavior === record.behavior,
  );
  const current = quotaReservations({
    product: record.routing.product,
    entry: entry ?? { channel: record.channel, behavior: record.behavior, weight: 0 },
    channel,
    account: record.account ?? undefined,
    amount: record.routing.amount,
    now: input.now,
  });
  const today = dayIn(channel, input.now);
  const dropped = record.routing.quotas
    .filter(
      (held) =>
        !current.some(
          (quota) =>
            quota.scope === held.scope && (quota.period === "total") === (held.period === "total"),
        ),
    )
    .map((held) => ({
      ...held,
      period: held.period === "total" ? "total" : today,
      limitAmount: null,
      limitCount: null,
    }));
  return [...current, ...dropped];
}

/**
 * A move that reopens an instance refused because a quota it reserves again has no room: the
 * store's refusal, saying what the operator can do.
 */
export function reopenRefused(error: CapflowError, instance: string, step: string): CapflowError {
  const { scope, period } = error.context;
  return new CapflowError(
    "QUOTA_EXHAUSTED",
    `moving instance ${instance} to "${step}" reopens it and reserves its quotas again, and quota ${String(scope)} has no room in ${String(period)}; nothing changed. Move it once the quota has room (the next day, for a daily one) or after raising the limit`,
    { context: { ...error.context, instance, step } },
  );
}

/**
 * A preview (`previewOperatorAction`) with the quota rule of a reopening move applied: a move that
 * reopens an instance whose quota holds were released reserves them anew (today's, against the
 * limits defined now), and when one has no room the move is refused with `QUOTA_EXHAUSTED` and
 * nothing changes. The preview then answers `allowed: false` with that refusal, read from the
 * quotas' usage now (the move itself decides atomically, so a quota filled or freed in between
 * decides it). Holds still reserved or consumed take nothing again; nor does a preview of anything
 * but a reopening move. `product` is the instance's product as defined now (undefined when gone),
 * `channel` its channel's definition.
 */
export async function previewReopenedQuotas(
  preview: OperatorActionPreview,
  record: InstanceRecord,
  deps: {
    store: Pick<InstanceStore, "quotaHolds" | "quotaUsage">;
    product: ProductDefinition | undefined;
    channel: ChannelDefinition | undefined;
    now: number;
  },
): Promise<OperatorActionPreview> {
  if (preview.action !== "move" || preview.quota !== "reserved") return preview;
  const holds = await deps.store.quotaHolds(record.id);
  if (!holds.some((hold) => hold.state === "released")) return preview;
  let refusal: CapflowError | undefined;
  try {
    const quotas = reopenedQuotaReservations({ record, ...deps });
    const usage = await deps.store.quotaUsage(quotas);
    // The first without room, by scope then period, as the store takes them.
    const full = [...quotas]
      .sort((a, b) =>
        a.scope === b.scope ? compare(a.period, b.period) : compare(a.scope, b.scope),
      )
      .find((quota) => {
        const used = usage.find((u) => u.scope === quota.scope && u.period === quota.period);
        const amount = new Decimal(used?.usedAmount ?? 0).plus(quota.amount);
        const count = (used?.usedCount ?? 0) + 1;
        return (
          (quota.limitAmount !== null && amount.greaterThan(quota.limitAmount)) ||
          (quota.limitCount !== null && count > quota.limitCount)
        );
      });
    if (full !== undefined) {
      refusal = reopenRefused(
        new CapflowError("QUOTA_EXHAUSTED", "", {
          context: { scope: full.scope, period: full.period },
        }),
        record.id,
        preview.to.step,
      );
    }
  } catch (error) {
    // The channel is gone: the move is refused for it as well.
    if (!isCapflowError(error, "DEFINITION_NOT_FOUND")) throw error;
    refusal = error;
  }
  if (refusal === undefined) return preview;
  return {
    ...preview,
    allowed: false,
    ...(preview.refusal === undefined
      ? { refusal: { code: refusal.code, message: refusal.message } }
      : {}),
    warnings: [...preview.warnings, refusal.message],
  };
}

/** Text order by code point, as PostgreSQL's C collation and the memory store order keys. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
