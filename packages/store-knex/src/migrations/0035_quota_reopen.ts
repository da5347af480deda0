import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Reopening an instance whose quota holds were released is a new reservation. Until now
 * `quota_apply` turned its released holds back into reserved ones with a plain `used + amount`:
 * no limit was checked (a slot freed by the failure and taken by the next start was counted
 * twice, over a count limit of one), and the hold went back into the day it was first reserved
 * in, so an instance reopened days later charged that past day and nothing today.
 *
 * The function keeps its signature (callers do not change) and its rules for every other change.
 * Settling to `reserved` now moves no hold by itself: the commit passes the reservations the
 * reopened instance takes (`p_reserve` is the instance itself, `p_quotas` the current period in
 * the channel's time zone and the current limits). When the instance's holds are released, each
 * reservation takes room with the same guarded update as a start's, all or nothing (CF429 rolls
 * the whole statement back: the instance is not reopened), and moves the released hold of its
 * scope and kind (a day, or `total`) into its period; a reservation for a quota defined since the
 * start is a new hold. Rows are updated, never deleted, so workers need no more grants than
 * before. A released hold no reservation takes up fails the statement: it would otherwise stay
 * behind and count again when the instance settles. Holds still reserved (manual review) or
 * consumed are left as they are and nothing is reserved.
 *
 * A released hold settled to `consumed` (an operator recording that the money moved after all)
 * still counts in its own period without a limit check: a fact, not a decision.
 */
export const quotaReopenMigration: Migration = {
  name: "0035_quota_reopen",
  statements: (n: QualifiedNames) => [
    `CREATE OR REPLACE FUNCTION ${n.quotaApply}(p_settle text, p_settle_to text, p_reserve text,
        p_quotas jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      k record;
      changed integer := 0;
      reopening boolean := p_settle_to IS NOT DISTINCT FROM 'reserved';
    BEGIN
      IF reopening THEN
        IF p_reserve IS DISTINCT FROM p_settle THEN
          RAISE EXCEPTION 'a reopened instance reserves for itself only; nothing was written';
        END IF;
        -- The instance's own row is locked by the commit's update: its holds cannot change meanwhile.
        IF NOT EXISTS (SELECT 1 FROM ${n.quotaHolds} WHERE instance_id = p_settle AND state = 'released') THEN
          RETURN 0;
        END IF;
        IF EXISTS (
          SELECT 1 FROM ${n.quotaHolds} h
          WHERE h.instance_id = p_settle AND h.state = 'released' AND NOT EXISTS (
            SELECT 1 FROM jsonb_to_recordset(COALESCE(p_quotas, '[]'::jsonb)) AS r(scope text, period text)
            WHERE r.scope = h.scope AND (r.period = 'total') = (h.period = 'total'))
        ) THEN
          RAISE EXCEPTION 'reopening instance % leaves a released quota hold without its reservation; nothing was written', p_settle;
        END IF;
      END IF;
      FOR k IN
        WITH settle AS (
          SELECT scope, period, amount, state FROM ${n.quotaHolds}
          WHERE NOT reopening AND instance_id = p_settle AND state <> p_settle_to
            AND state <> 'consumed'
        ), reserve AS (
          SELECT * FROM jsonb_to_recordset(COALESCE(p_quotas, '[]'::jsonb))
            AS r(scope text, period text, amount numeric, "limitAmount" numeric, "limitCount" bigint)
        )
        SELECT COALESCE(s.scope, r.scope) AS scope, COALESCE(s.period, r.period) AS period,
          s.state AS from_state, s.amount AS settle_amount, r.amount AS reserve_amount,
          r."limitAmount" AS limit_amount, r."limitCount" AS limit_count, r.scope IS NOT NULL AS reserving
        FROM settle s FULL JOIN reserve r ON s.scope = r.scope AND s.period = r.period
        ORDER BY 1, 2
      LOOP
        INSERT INTO ${n.quotaUsage} (scope, period) VALUES (k.scope, k.period) ON CONFLICT DO NOTHING;
        IF k.from_state IS NOT NULL THEN
          UPDATE ${n.quotaUsage} SET
            used_amount = used_amount + CASE
              WHEN k.from_state = 'reserved' AND p_settle_to = 'released' THEN -k.settle_amount
              WHEN k.from_state = 'released' THEN k.settle_amount ELSE 0 END,
            used_count = used_count + CASE
              WHEN k.from_state = 'reserved' AND p_settle_to = 'released' THEN -1
              WHEN k.from_state = 'released' THEN 1 ELSE 0 END,
            consumed_amount = consumed_amount
              + CASE WHEN p_settle_to = 'consumed' THEN k.settle_amount ELSE 0 END,
            consumed_count = consumed_count + CASE WHEN p_settle_to = 'consumed' THEN 1 ELSE 0 END
          WHERE scope = k.scope AND period = k.period;
          UPDATE ${n.quotaHolds} SET state = p_settle_to
          WHERE instance_id = p_settle AND scope = k.scope AND period = k.period;
          changed := changed + 1;
        END IF;
        IF k.reserving THEN
          UPDATE ${n.quotaUsage}
            SET used_amount = used_amount + k.reserve_amount, used_count = used_count + 1
          WHERE scope = k.scope AND period = k.period
            AND (k.limit_amount IS NULL OR used_amount + k.reserve_amount <= k.limit_amount)
            AND (k.limit_count IS NULL OR used_count + 1 <= k.limit_count);
          IF NOT FOUND THEN
            RAISE EXCEPTION 'quota % has no room in %', k.scope, k.period
              USING ERRCODE = 'CF429', DETAIL = json_build_object('scope', k.scope, 'period', k.period)::text;
          END IF;
          UPDATE ${n.quotaHolds} SET period = k.period, amount = k.reserve_amount, state = 'reserved'
          WHERE reopening AND instance_id = p_reserve AND scope = k.scope AND state = 'released'
            AND (period = 'total') = (k.period = 'total');
          IF NOT FOUND THEN
            INSERT INTO ${n.quotaHolds} (instance_id, scope, period, amount, state)
              VALUES (p_reserve, k.scope, k.period, k.reserve_amount, 'reserved');
          END IF;
          changed := changed + 1;
        END IF;
      END LOOP;
      RETURN changed;
    END $$`,
  ],
};
