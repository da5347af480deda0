/**
 * `pnpm start` in this folder (or `pnpm --filter @capflow/example-cedar-bank start`): the demo of
 * `pnpm start` with Cedar Bank alone. Its mock funder plays the funder's side of this folder's
 * definitions and keys (keys/partner.crypto.json), misbehaving as the scenario says; the engine runs
 * on PGlite in memory, or on PostgreSQL and Redis with DATABASE_URL and REDIS_URL. DEMO_TOTAL
 * (default 60) and DEMO_SEED change the batch. Exits 1 if anything differs from the scenario.
 */
import { demoOptionsFromEnv, runDemo } from "@capflow/example-demo";
import { cedarBankFunder } from "./mock-funder.ts";

const result = await runDemo({
  ...demoOptionsFromEnv(process.env),
  funders: [cedarBankFunder],
  total: Number(process.env.DEMO_TOTAL ?? 60),
});
process.exitCode = result.ok ? 0 : 1;
