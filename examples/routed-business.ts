import type { ProductDefinition } from "@capflow/core";
import type { RoutingDemo } from "@capflow/example-demo";
import { customerFor } from "@capflow/example-demo";

/**
 * The business `pnpm start` routes through the example products (examples/products): thirty cash
 * loans over Lan Bank, Meadow and Jade Trust (by weight, Meadow only up to twelve months, Lan
 * Bank until its daily quota is full), and four credit applications, the first declined by Lan
 * Bank and carried over to Meadow. One input serves every funder: each behavior reads its fields.
 */
export function routedBusiness(products: readonly ProductDefinition[]): RoutingDemo {
  const amounts = ["8000.00", "12000.00", "10000.00"];
  const terms = [12, 6, 24];
  const loans = Array.from({ length: 30 }, (_, index) => {
    const key = `CL${String(index + 1).padStart(4, "0")}`;
    return {
      product: "cash-loan",
      key,
      input: {
        loanNo: key,
        creditNo: `C-${key}`,
        productCode: "CASH-LOAN",
        amount: amounts[index % amounts.length]!,
        termMonths: terms[index % terms.length]!,
        annualRate: "0.0720",
        purpose: "CONSUMPTION",
        customerId: `CU-${key}`,
        customer: customerFor(key),
      },
    };
  });
  const applications = Array.from({ length: 4 }, (_, index) => {
    const key = `CR${String(index + 1).padStart(4, "0")}`;
    return {
      product: "credit-line",
      key,
      input: {
        applicationNo: key,
        productCode: "LB-CASH-12",
        amount: "30000.00",
        termMonths: 12,
        customerId: `CU-${key}`,
        customer: customerFor(key),
        riskFactors: { score: 712, channel: "app" },
      },
      // The first application goes to Lan Bank (the larger weight) and is declined there.
      ...(index === 0 ? { declinedBy: ["lanbank"] } : {}),
    };
  });
  return { products, starts: [...applications, ...loans] };
}
