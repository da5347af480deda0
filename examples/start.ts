/**
 * `pnpm start`: validates every example's definitions, then runs the demo (examples/demo): the
 * four example funders as mock servers on loopback, the engine on PGlite in memory, a worker,
 * and a few hundred credit applications, disbursements and repayments whose funders misbehave
 * (rejections, timeouts and connection resets after processing, duplicate and out-of-order
 * callbacks, slow polls …), then business routed through the example products (examples/products:
 * one cash loan over three funders, a credit line with failover). Prints progress and a summary;
 * exits 1 if anything differs from the scenario or breaks a money rule.
 *
 * With DATABASE_URL set it runs on PostgreSQL (in a fresh schema, dropped at the end), and with
 * REDIS_URL on Redis locks and cluster-wide limits. DEMO_TOTAL and DEMO_SEED change the batch.
 */
import { formatProblems } from "@capflow/core";
import { cedarBankFunder } from "@capflow/example-cedar-bank";
import { demoOptionsFromEnv, runDemo } from "@capflow/example-demo";
import { jadeTrustFunder } from "@capflow/example-jade-trust";
import { lanbankFunder } from "@capflow/example-lanbank";
import { meadowFunder } from "@capflow/example-meadow";
import { routedBusiness } from "./routed-business.ts";
import { validateExampleProducts, validateExamples } from "./validate-examples.ts";

const validations = await validateExamples();
let problemCount = 0;
for (const { example, result } of validations) {
  problemCount += result.problems.length;
  const steps = result.behaviors.reduce(
    (total, behavior) => total + Object.keys(behavior.steps).length,
    0,
  );
  console.log(
    `${example.padEnd(12)} ${result.channels.length} channel, ${result.behaviors.length} behaviors, ${steps} steps, ${
      result.problems.length === 0 ? "valid" : `${result.problems.length} problems`
    }`,
  );
  if (result.problems.length > 0) console.log(formatProblems(result.problems));
}
// The products (examples/products), checked against the funders they route to.
const products = await validateExampleProducts();
problemCount += products.problems.length;
console.log(
  `${"products".padEnd(12)} ${products.products.map((product) => product.code).join(", ")}, ${
    products.problems.length === 0 ? "valid" : `${products.problems.length} problems`
  }`,
);
if (products.problems.length > 0) console.log(formatProblems(products.problems));
if (problemCount > 0) {
  console.log(
    `\n${problemCount} problems: run \`pnpm capflow validate examples/<name>/definitions\``,
  );
  process.exitCode = 1;
} else {
  const result = await runDemo({
    ...demoOptionsFromEnv(process.env),
    funders: [lanbankFunder, meadowFunder, jadeTrustFunder, cedarBankFunder],
    routing: routedBusiness(products.products),
  });
  process.exitCode = result.ok ? 0 : 1;
}
