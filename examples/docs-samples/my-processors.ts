import { type ProcessorRegistry, processor } from "@capflow/core";

/** A bank's own code for a card's bank, as one funder's template needs it: `{{bankCodeOf input.customer.bankCode}}`. */
class BankCodes {
  static readonly #codes: Readonly<Record<string, string>> = {
    ICBC: "102",
    CCB: "105",
    ABC: "103",
  };

  @processor({
    name: "bankCodeOf",
    label: "Bank code (CNAPS prefix)",
    params: [{ name: "bank", type: "string" }],
    returns: "string",
  })
  bankCodeOf(bank: unknown): string {
    const code = BankCodes.#codes[String(bank)];
    if (code === undefined) throw new Error(`no bank code for ${String(bank)}`);
    return code;
  }
}

/** What `capflow worker --processors ./my-processors.ts` and `capflow push --processors` load. */
export function registerProcessors(registry: ProcessorRegistry): void {
  registry.registerAll(new BankCodes(), { module: "my-processors" });
}
