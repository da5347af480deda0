import { describe, expect, test } from "vitest";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import { MemoryInstanceStore } from "../../src/memory/memory-instance-store.ts";
import { loanBehavior, product } from "../routing/fixtures.ts";
import { funder, routingWorld } from "../routing/routing-scenarios.ts";
import { engineHarness } from "../support/harness.ts";

const input = (loanNo: string, extra: Record<string, unknown> = {}) => ({
  loanNo,
  amount: 100000,
  idCardNo: "110101199003071234",
  ...extra,
});

async function refusal(pending: Promise<unknown>): Promise<CapflowError> {
  const error = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isCapflowError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

describe("starts by upstream clients", () => {
  const start = (
    h: ReturnType<typeof engineHarness>,
    businessKey: string,
    upstreamClient: string | undefined,
    extra: Record<string, unknown> = {},
  ) =>
    h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey,
      input: input(businessKey, extra),
      ...(upstreamClient === undefined ? {} : { upstreamClient }),
    });

  test("another client's business key is refused, the same whatever its input, naming nothing of the instance", async () => {
    const h = engineHarness();
    const first = await start(h, "L-1", "lender-a");
    const events = h.events.length;
    const same = await refusal(start(h, "L-1", "lender-b"));
    const other = await refusal(start(h, "L-1", "lender-b", { amount: 5 }));
    for (const error of [same, other]) {
      expect(error.code).toBe("BUSINESS_KEY_TAKEN");
      expect(error.retryable).toBe(false);
      expect(error.message).toContain("business key L-1 of lanbank/loan");
      expect(error.message).not.toContain(first.id);
      expect(JSON.stringify(error.context)).not.toContain(first.id);
    }
    // No input comparison: the answer for a guess is the answer for any input.
    expect(other.message).toBe(same.message);
    expect(other.context).toEqual(same.context);
    expect(h.events).toHaveLength(events);
    expect(await h.store.listInstances({})).toHaveLength(1);
    // The owner itself is answered as before.
    expect((await start(h, "L-1", "lender-a")).id).toBe(first.id);
    expect(
      isCapflowError(
        await start(h, "L-1", "lender-a", { amount: 5 }).catch((e) => e),
        "INSTANCE_INPUT_MISMATCH",
      ),
    ).toBe(true);
  });

  test("a start without a client, and an instance started without one, are as they always were", async () => {
    const h = engineHarness();
    const owned = await start(h, "L-2", "lender-a");
    // An operator, the command line or a host's own code starting without a client.
    expect((await start(h, "L-2", undefined)).id).toBe(owned.id);
    const shared = await start(h, "L-3", undefined);
    expect((await start(h, "L-3", "lender-a")).id).toBe(shared.id);
    expect((await start(h, "L-3", "lender-b")).id).toBe(shared.id);
    const mismatch = await refusal(start(h, "L-3", "lender-b", { amount: 5 }));
    expect(mismatch.code).toBe("INSTANCE_INPUT_MISMATCH");
  });
});

describe("product starts by upstream clients", () => {
  const world = () =>
    routingWorld(new MemoryInstanceStore(), {
      channels: [funder("lanbank"), funder("meadow")],
      behaviors: [loanBehavior("lanbank"), loanBehavior("meadow")],
      products: [
        product([
          // lanbank is tried first: the second test's other client started the key there.
          { channel: "lanbank", behavior: "loan", weight: 2 },
          { channel: "meadow", behavior: "loan", weight: 1 },
        ]),
      ],
    });
  const startProduct = (
    w: ReturnType<typeof world>,
    businessKey: string,
    upstreamClient: string,
    amount = "100.00",
  ) =>
    w.engine.start({
      product: "cash-loan",
      businessKey,
      input: { loanNo: businessKey, amount },
      upstreamClient,
    });

  test("another client's product business is refused before its input is compared", async () => {
    const w = world();
    const first = await startProduct(w, "P-1", "lender-a");
    for (const amount of ["100.00", "5.00"]) {
      const error = await refusal(startProduct(w, "P-1", "lender-b", amount));
      expect(error.code).toBe("BUSINESS_KEY_TAKEN");
      expect(error.message).toContain("business key P-1 of product cash-loan");
      expect(error.message).not.toContain(first.id);
      expect(error.message).not.toContain(first.channel);
    }
    expect((await startProduct(w, "P-1", "lender-a")).id).toBe(first.id);
  });

  test("a channel another client started the business key on refuses the product start, naming neither", async () => {
    const w = world();
    const direct = await w.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "P-2",
      input: { loanNo: "P-2", amount: "100.00" },
      upstreamClient: "lender-a",
    });
    const error = await refusal(startProduct(w, "P-2", "lender-b"));
    expect(error.code).toBe("BUSINESS_KEY_TAKEN");
    expect(error.message).not.toContain(direct.id);
    expect(error.message).not.toContain("lanbank");
    expect(await w.store.listInstances({})).toHaveLength(1);
  });
});
