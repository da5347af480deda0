import type { QualifiedNames } from "../sql-names.ts";
import type { Migration } from "./migration.ts";

/**
 * One business key, one loan across the channels of a product. The unique indexes cover one
 * channel's behavior and a product's first instance; a key started directly on one channel of a
 * product and routed by the product to another would pass both. `business_key_free` is the
 * guard every creation that could make that pair calls in its own statement: a product's start
 * and failover (the product's channels), a channel start on a channel some product lists (those
 * products).
 *
 * It first takes a transaction-level advisory lock on the business key, held until the creating
 * statement commits, then looks: a VOLATILE function's query takes a new snapshot, so it sees
 * what a creation that held the lock before committed. Two guarded creations of one key are
 * therefore serialised, and the second sees the first. Returns false when the key is held (an
 * instance not of `p_product` on one of the channels, or an instance of one of `p_products`);
 * with `p_raise` it raises unique_violation instead, failing the whole statement.
 */
export const businessKeyGuardMigration: Migration = {
  name: "0036_business_key_guard",
  statements: (n: QualifiedNames) => [
    `CREATE OR REPLACE FUNCTION ${n.businessKeyFree}(p_key text, p_product text,
        p_channels text[], p_behaviors text[], p_products text[], p_raise boolean)
      RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('capflow business key ' || p_key, 0));
      IF EXISTS (
        SELECT 1 FROM ${n.instances} i
        JOIN unnest(p_channels, p_behaviors) AS c(channel, behavior)
          ON i.channel = c.channel AND i.behavior = c.behavior
        WHERE i.business_key = p_key AND i.product IS DISTINCT FROM p_product
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
