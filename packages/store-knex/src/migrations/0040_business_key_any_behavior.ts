import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * A business key belongs to one loan across a product's channels whatever the behavior it was
 * started under. `business_key_free` (migration 0036) matched an instance on a product's channel
 * only when its behavior was the one the product lists there, so a key started under another
 * behavior of that channel (a channel start of `lanbank/credit` where the product routes to
 * `lanbank/loan`) did not hold it, and the product could route the same business to a second
 * funder. The function keeps its signature (callers do not change; `p_behaviors` is no longer
 * read) and its lock; it now looks for an instance of another start on any of `p_channels`, by
 * the unique index's leading columns (channel, business_key).
 */
export const businessKeyAnyBehaviorMigration: Migration = {
  name: "0040_business_key_any_behavior",
  statements: (n: QualifiedNames) => [
    `CREATE OR REPLACE FUNCTION ${n.businessKeyFree}(p_key text, p_product text,
        p_channels text[], p_behaviors text[], p_products text[], p_raise boolean)
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('capflow business key ' || p_key, 0));
      IF EXISTS (
        SELECT 1 FROM ${n.instances} i
        WHERE i.channel = ANY (p_channels) AND i.business_key = p_key
          AND i.product IS DISTINCT FROM p_product
      ) OR EXISTS (
        SELECT 1 FROM ${n.instances} i
        WHERE i.product = ANY (p_products) AND i.business_key = p_key AND i.failover_of IS NULL
      ) THEN
        IF p_raise THEN
          RAISE EXCEPTION 'business key is held on a channel of product %', p_product
            USING ERRCODE = '23505', CONSTRAINT = 'business_key_free';
        END IF;
        RETURN false;
      END IF;
      RETURN true;
    END $$`,
  ],
};
