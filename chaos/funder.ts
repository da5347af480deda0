import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChaosChannel } from "./definitions.ts";

/** What happens to an order's first apply request. Resends and queries are always answered. */
export type Fault =
  /** Answered at once (final status or PROCESSING then a callback). */
  | "none"
  /** Created, then the answer never comes (the client times out): an unknown outcome. */
  | "hang"
  /** Created, then the connection is reset without an answer: an unknown outcome. */
  | "reset"
  /** Created, the result callback sent and acknowledged, then the answer (PROCESSING). */
  | "callbacksFirst"
  /** PROCESSING, then the callback twice with one notification id and once more with another. */
  | "duplicateCallbacks"
  /** PROCESSING, and no callback ever: found by the deadline and the query. */
  | "lostCallback";

export interface OrderPlan {
  channel: ChaosChannel;
  outcome: "SUCCESS" | "FAIL";
  fault: Fault;
  /** With no fault: the final status in the answer, or PROCESSING and a callback. */
  answersAtOnce: boolean;
}

/**
 * The mock funders of the fault suite, both on one server (`/once/...` does not deduplicate,
 * `/dedupe/...` does). It counts every create per business number: the suite's first check is
 * that no number was ever created twice.
 */
export class ChaosFunder {
  /** Orders created per business number (`once`: every apply creates one). */
  readonly creates = new Map<string, number>();
  /** Apply requests received per business number (resends included). */
  readonly applies = new Map<string, number>();
  /** The funder's outcome per business number. */
  readonly orders = new Map<string, "SUCCESS" | "FAIL">();
  readonly #plans: Map<string, OrderPlan>;
  readonly #callbackOrigin: string;
  #server: Server | undefined;
  #pending = new Set<Promise<unknown>>();

  constructor(plans: Map<string, OrderPlan>, callbackOrigin: string) {
    this.#plans = plans;
    this.#callbackOrigin = callbackOrigin;
  }

  async start(): Promise<string> {
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#pending);
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as {
      applyNo?: string;
    };
    const applyNo = String(body.applyNo);
    const [, funder, operation] = (request.url ?? "").split("/");
    const plan = this.#plans.get(applyNo);
    if (!plan || (funder !== "once" && funder !== "dedupe")) {
      answer(response, 404, { respCode: "9404" });
      return;
    }
    if (operation === "query") {
      const status = this.orders.get(applyNo);
      answer(response, 200, status ? { respCode: "0000", status } : { respCode: "3004" });
      return;
    }
    const first = !this.applies.has(applyNo);
    this.applies.set(applyNo, (this.applies.get(applyNo) ?? 0) + 1);
    if (funder === "once" || !this.orders.has(applyNo)) {
      this.creates.set(applyNo, (this.creates.get(applyNo) ?? 0) + 1);
      this.orders.set(applyNo, plan.outcome);
    }
    const fault = first ? plan.fault : "none";
    const processing = { respCode: "0000", status: "PROCESSING" };
    switch (fault) {
      case "hang":
        this.#notify(plan, applyNo, `${applyNo}-n1`, 500);
        // Longer than the interface timeout: the worker gives up first.
        setTimeout(() => response.destroy(), 4_000);
        return;
      case "reset":
        this.#notify(plan, applyNo, `${applyNo}-n1`, 300);
        response.socket?.resetAndDestroy();
        return;
      case "callbacksFirst":
        await this.#notify(plan, applyNo, `${applyNo}-n1`, 0);
        answer(response, 200, processing);
        return;
      case "duplicateCallbacks":
        answer(response, 200, processing);
        this.#notify(plan, applyNo, `${applyNo}-n1`, 100);
        this.#notify(plan, applyNo, `${applyNo}-n1`, 150);
        this.#notify(plan, applyNo, `${applyNo}-n2`, 200);
        return;
      case "lostCallback":
        answer(response, 200, processing);
        return;
      case "none":
        if (plan.answersAtOnce || !first) {
          answer(response, 200, { respCode: "0000", status: this.orders.get(applyNo) });
        } else {
          answer(response, 200, processing);
          this.#notify(plan, applyNo, `${applyNo}-n1`, 200);
        }
    }
  }

  /** Sends the result callback after `delayMs`, again every 500 ms until acknowledged. */
  #notify(plan: OrderPlan, applyNo: string, notifyId: string, delayMs: number): Promise<void> {
    const url = `${this.#callbackOrigin}/callbacks/${plan.channel}/result`;
    const body = JSON.stringify({ notifyId, applyNo, status: this.orders.get(applyNo) });
    const send = async () => {
      await sleep(delayMs);
      for (let attempt = 0; attempt < 40; attempt++) {
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
            signal: AbortSignal.timeout(5_000),
          });
          await response.arrayBuffer();
          if (response.ok) return;
        } catch {
          // Sent again below, like a funder's notification retries.
        }
        await sleep(500);
      }
    };
    const sending = send();
    this.#pending.add(sending);
    void sending.finally(() => this.#pending.delete(sending));
    return sending;
  }
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
