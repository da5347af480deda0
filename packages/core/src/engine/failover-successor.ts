import { CapflowError } from "../errors.ts";
import type { InstanceRecord, InstanceStore } from "../ports/instance-store.ts";
import type { OperatorActionPreview } from "./operator-action-preview.ts";

/**
 * Where a business went after this instance failed over: the instance its failover created (its
 * `failoverOf` is this one's id) and the last of the chain from there, where the business lives
 * now (the successor itself unless it failed over too).
 */
export interface FailoverSuccession {
  successor: string;
  current: string;
}

/** A failover chain is a few instances (one per channel tried); pages keep any listing bounded. */
const chainPage = 100;

/**
 * The successor of an instance that failed over, found among its business's instances (the
 * product's chain, one indexed listing); undefined for an instance that did not fail over.
 * Links are followed, not creation times, which may be equal.
 */
export async function failoverSuccession(
  store: InstanceStore,
  record: InstanceRecord,
): Promise<FailoverSuccession | undefined> {
  if (record.product === null) return undefined;
  const next = new Map<string, string>();
  for (let after: { createdAt: number; id: string } | undefined; ; ) {
    const page = await store.listInstances({
      product: record.product,
      businessKey: record.businessKey,
      limit: chainPage,
      ...(after ? { after } : {}),
    });
    for (const instance of page) {
      // The first successor: a later one exists only where a failed-over instance ran again.
      if (instance.failoverOf !== null && !next.has(instance.failoverOf)) {
        next.set(instance.failoverOf, instance.id);
      }
    }
    const last = page.at(-1);
    if (page.length < chainPage || last === undefined) break;
    after = { createdAt: last.createdAt, id: last.id };
  }
  const successor = next.get(record.id);
  if (successor === undefined) return undefined;
  const seen = new Set([record.id, successor]);
  let current = successor;
  for (let link = next.get(current); link !== undefined && !seen.has(link); link = next.get(link)) {
    seen.add(link);
    current = link;
  }
  return { successor, current };
}

/**
 * Why an operator may not retry or move an instance that failed over. Its business goes on at the
 * successor, which may have disbursed already: running this one again would send the business to
 * its first funder a second time (two disbursements of one loan), re-reserve its released quota,
 * and, failing over again without knowing of the successor, start a third instance. There is no
 * override: whatever the operator means to do to the business is done to the successor (moved,
 * retried, cancelled). Cancelling stays allowed, so an instance that ran again anyway can be
 * stopped.
 */
export function failedOverReason(
  record: InstanceRecord,
  succession: FailoverSuccession,
  action: "retry" | "move",
): string {
  const { successor, current } = succession;
  const now = current === successor ? "" : ` (which failed over to ${current})`;
  return `instance ${record.id} failed over to ${successor}${now}: its business goes on there, and a ${action} would run this one again beside it; act on ${current} instead`;
}

/** Refuses a retry or move of an instance that failed over (`INSTANCE_FAILED_OVER`, 409). */
export async function refuseIfFailedOver(
  store: InstanceStore,
  record: InstanceRecord,
  action: "retry" | "move",
): Promise<void> {
  const succession = await failoverSuccession(store, record);
  if (succession === undefined) return;
  throw new CapflowError("INSTANCE_FAILED_OVER", failedOverReason(record, succession, action), {
    context: {
      instance: record.id,
      step: record.step,
      successor: succession.successor,
      current: succession.current,
    },
  });
}

/**
 * A preview (`previewOperatorAction`) with this rule applied: a retry or move of an instance that
 * failed over is not allowed, with the same reason the action would be refused with.
 */
export function previewFailedOver(
  preview: OperatorActionPreview,
  record: InstanceRecord,
  succession: FailoverSuccession | undefined,
): OperatorActionPreview {
  if (succession === undefined || preview.action === "cancel") return preview;
  const reason = failedOverReason(record, succession, preview.action);
  return {
    ...preview,
    allowed: false,
    refusal: { code: "INSTANCE_FAILED_OVER", message: reason },
    warnings: [...preview.warnings, reason],
  };
}
