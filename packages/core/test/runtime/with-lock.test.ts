import { setTimeout as delay } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import {
  currentLock,
  InProcessLockProvider,
  isCapflowError,
  type LockProvider,
  withLock,
} from "../../src/index.ts";

const locks = new InProcessLockProvider();

class RepaymentService {
  readonly running = new Set<string>();
  overlaps = 0;

  @withLock({ key: (loanId: string) => `repay:${loanId}`, ttlMs: 2_000, locks: () => locks })
  async settle(loanId: string, amount: number): Promise<string> {
    if (this.running.has(loanId)) this.overlaps++;
    this.running.add(loanId);
    await delay(50);
    this.running.delete(loanId);
    return `${loanId}:${amount}:${currentLock()?.key}`;
  }

  @withLock({
    key: (loanId: string) => `repay:${loanId}`,
    ttlMs: 2_000,
    waitMs: 1_000,
    locks: () => locks,
  })
  async settlePatiently(_loanId: string): Promise<boolean> {
    return currentLock()?.signal.aborted === false;
  }

  @withLock({ key: (id: string) => `fail:${id}`, ttlMs: 2_000, locks: () => locks })
  async explode(_id: string): Promise<never> {
    throw new Error("boom");
  }
}

/** The provider can come from the instance (`this`), e.g. injected by a container. */
class InjectedService {
  constructor(readonly locks: LockProvider) {}

  @withLock({
    key: (id: string) => `injected:${id}`,
    ttlMs: 2_000,
    locks(this: InjectedService) {
      return this.locks;
    },
  })
  async run(_id: string): Promise<string | undefined> {
    return currentLock()?.key;
  }
}

describe("@withLock", () => {
  test("runs the method under a lock on the key built from its arguments", async () => {
    const service = new RepaymentService();
    expect(await service.settle("L1", 100)).toBe("L1:100:repay:L1");
    expect(currentLock()).toBeUndefined();
  });

  test("a second caller on the same key fails fast with LOCK_NOT_ACQUIRED naming the key", async () => {
    const service = new RepaymentService();
    const first = service.settle("L2", 1);
    const error = await service.settle("L2", 2).catch((e: unknown) => e);
    expect(isCapflowError(error, "LOCK_NOT_ACQUIRED")).toBe(true);
    if (isCapflowError(error)) {
      expect(error.message).toContain('"repay:L2"');
      expect(error.message).toContain("settle");
      expect(error.retryable).toBe(true);
      expect(error.context).toMatchObject({ lock: "repay:L2", method: "settle" });
    }
    await first;
    expect(service.overlaps).toBe(0);
    // Different keys do not exclude each other.
    await Promise.all([service.settle("L3", 1), service.settle("L4", 1)]);
  });

  test("waitMs waits for the holder to finish", async () => {
    const service = new RepaymentService();
    const first = service.settle("L5", 1);
    expect(await service.settlePatiently("L5")).toBe(true);
    await first;
  });

  test("the lock is released when the method throws", async () => {
    const service = new RepaymentService();
    await expect(service.explode("x")).rejects.toThrow("boom");
    await expect(service.explode("x")).rejects.toThrow("boom");
  });

  test("the provider may come from the instance", async () => {
    const service = new InjectedService(new InProcessLockProvider());
    expect(await service.run("a")).toBe("injected:a");
  });
});
