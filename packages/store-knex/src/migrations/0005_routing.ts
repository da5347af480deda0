import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * Fund routing: products, the routing record and quota holds of product instances, accounts.
 *
 * - `products`: product definitions, live like channels (not versioned): routing reads the
 *   current one; each instance records what it was routed by.
 * - `instances` gains `product`, `account`, `customer_ref`, `failover_of` and `routing`. A
 *   product's business key starts once: the partial unique index on (product, business_key) of
 *   first instances (`failover_of IS NULL`); failover instances link to the one they replace.
 * - `routing_positions`: one counter per product, drawn by every node (smooth weighted round
 *   robin picks by position, so all nodes together follow the weights).
 * - `quota_usage` (per scope and period) and `quota_holds` (per instance): a hold is reserved
 *   when a channel is chosen, consumed when the money moves, released when the instance fails
 *   before. `quota_apply` does every change of one commit in one function, row by row in
 *   (scope, period) order so that concurrent commits never deadlock, with a guarded UPDATE per
 *   reservation: under READ COMMITTED, a waiting UPDATE re-checks its guard against the row the
 *   other transaction committed, so no limit is ever exceeded. It raises CF429 (capflow's own
 *   SQLSTATE; the store reports QUOTA_EXHAUSTED) and the whole statement rolls back.
 * - `inbox.account`: the account whose keys verified a callback; only that account's instance
 *   applies it, and only its entries make a waiting instance due (`has_callback_of_account`).
 */
export const routingMigration: Migration = {
  name: "0005_routing",
  statements: (n: QualifiedNames) => [
    `CREATE TABLE ${n.products} (
      code text PRIMARY KEY,
      definition json NOT NULL,
      digest text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `ALTER TABLE ${n.instances}
      ADD COLUMN product text,
      ADD COLUMN account text,
      ADD COLUMN customer_ref text,
      ADD COLUMN failover_of text,
      ADD COLUMN routing jsonb`,
    `CREATE UNIQUE INDEX instances_product_business ON ${n.instances} (product, business_key)
      WHERE product IS NOT NULL AND failover_of IS NULL`,
    `CREATE INDEX instances_product_chain ON ${n.instances} (product, business_key, created_at)
      WHERE product IS NOT NULL`,
    `CREATE INDEX instances_customer ON ${n.instances} (customer_ref, created_at)
      WHERE customer_ref IS NOT NULL`,
    `ALTER TABLE ${n.inbox} ADD COLUMN account text`,
    `CREATE TABLE ${n.routingPositions} (
      product text PRIMARY KEY,
      position bigint NOT NULL
    )`,
    `CREATE TABLE ${n.quotaUsage} (
      scope text NOT NULL,
      period text NOT NULL,
      used_amount numeric NOT NULL DEFAULT 0,
      used_count bigint NOT NULL DEFAULT 0,
      consumed_amount numeric NOT NULL DEFAULT 0,
      consumed_count bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (scope, period)
    )`,
    `CREATE TABLE ${n.quotaHolds} (
      instance_id text NOT NULL,
      scope text NOT NULL,
      period text NOT NULL,
      amount numeric NOT NULL,
      state text NOT NULL CHECK (state IN ('reserved', 'consumed', 'released')),
      PRIMARY KEY (instance_id, scope, period)
    )`,
    `CREATE FUNCTION ${n.quotaApply}(p_settle text, p_settle_to text, p_reserve text,
        p_quotas jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      k record;
      changed integer := 0;
    BEGIN
      FOR k IN
        WITH settle AS (
          SELECT scope, period, amount, state FROM ${n.quotaHolds}
          WHERE instance_id = p_settle AND state <> p_settle_to AND state <> 'consumed'
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
          INSERT INTO ${n.quotaHolds} (instance_id, scope, period, amount, state)
            VALUES (p_reserve, k.scope, k.period, k.reserve_amount, 'reserved');
          changed := changed + 1;
        END IF;
      END LOOP;
      RETURN changed;
    END $$`,
    `CREATE FUNCTION ${n.hasCallbackOfAccount}(p_channel text, p_business_key text, p_callback text,
        p_account text, p_consumed text[])
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      RETURN EXISTS (
        SELECT 1 FROM ${n.inbox}
        WHERE channel = p_channel AND business_key = p_business_key AND callback = p_callback
          AND account IS NOT DISTINCT FROM p_account
          AND processed_at IS NULL AND id <> ALL (p_consumed)
      );
    END $$`,
  ],
};
