import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AlertMonitor,
  type AlertsConfig,
  createDefaultSecretResolver,
  type EngineEvent,
  ManualClock,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { KnexAlertCountStore, KnexAlertStore, knexExclusiveRunner } from "../src/index.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

const second = 1_000;
const minute = 60_000;

/** A signed webhook receiver on loopback: what the rules sent, in order. */
interface Received {
  type: string;
  rule: string;
  subject: string;
}

describe.skipIf(!databaseUrl)(
  databaseUrl ? "alert rules judged over the cluster (PostgreSQL)" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let server: Server;
    let url: string;
    const received: Received[] = [];

    beforeAll(async () => {
      db = await openTestPostgres();
      server = createServer((req, res) => {
        let text = "";
        req.on("data", (chunk) => {
          text += chunk;
        });
        req.on("end", () => {
          const body = JSON.parse(text) as {
            type: string;
            alert: { rule: string; subject: string };
          };
          received.push({ type: body.type, rule: body.alert.rule, subject: body.alert.subject });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      await db.drop();
    });
    beforeEach(async () => {
      received.length = 0;
      await db.knex.raw(
        `TRUNCATE "${db.schema}".alerts, "${db.schema}".alert_history, "${db.schema}".alert_counts`,
      );
    });

    /** Two nodes sharing the database, each with its own monitor, on one manual clock. */
    function cluster(rules: AlertsConfig["rules"]) {
      const clock = new ManualClock(Date.parse("2026-03-10T01:00:00Z"));
      const node = () =>
        new AlertMonitor({
          config: {
            rules,
            sinks: [{ name: "ops", kind: "webhook", url, secret: "inline:whsec" }],
          },
          store: new KnexAlertStore(db),
          counts: new KnexAlertCountStore(db),
          exclusive: knexExclusiveRunner(db),
          clock,
          secrets: createDefaultSecretResolver({ allowInline: true }),
        });
      return { clock, a: node(), b: node() };
    }

    const call = (failed: boolean, iface = "repay.apply"): EngineEvent =>
      failed
        ? {
            type: "step.failed",
            instanceId: "i",
            step: "repay",
            errorClass: "unknownOutcome",
            code: "TRANSPORT_UNKNOWN_OUTCOME",
            willRetry: false,
            channel: "lanbank",
            interface: iface,
          }
        : {
            type: "step.succeeded",
            instanceId: "i",
            step: "repay",
            to: "done",
            outcome: "succeeded",
            channel: "lanbank",
            interface: iface,
          };

    test("failure-rate: failures seen by two nodes add up; it fires once, deduplicated, and resolves when the rate falls", async () => {
      const { clock, a, b } = cluster([
        {
          name: "repayment-failures",
          kind: "failure-rate",
          window: "5m",
          above: 0.5,
          minimumCalls: 10,
        },
      ]);
      // Six calls on each node, four of them failed: neither node alone has the ten calls needed.
      for (const node of [a, b]) {
        for (let i = 0; i < 6; i += 1) node.observe(call(i < 4));
      }
      expect((await a.evaluate()).fired).toEqual([]);
      // Node B's counts reach the database: eight of twelve failed, over the cluster.
      await b.flush();
      const fired = await a.evaluate();
      expect(fired.fired.map((alert) => [alert.subject, alert.details])).toEqual([
        [
          "lanbank/repay.apply",
          {
            channel: "lanbank",
            interface: "repay.apply",
            calls: 12,
            failures: 8,
            window: "5m",
          },
        ],
      ]);
      // Both nodes evaluating again: one alert, one message.
      expect((await b.evaluate()).fired).toEqual([]);
      expect((await a.evaluate()).fired).toEqual([]);
      expect(received).toEqual([
        { type: "alert.firing", rule: "repayment-failures", subject: "lanbank/repay.apply" },
      ]);

      // Later, healthy calls on both nodes: resolved once.
      await clock.advance(6 * minute);
      for (const node of [a, b]) {
        for (let i = 0; i < 6; i += 1) node.observe(call(false));
      }
      await a.flush();
      const resolved = await b.evaluate();
      expect(resolved.resolved.map((alert) => alert.subject)).toEqual(["lanbank/repay.apply"]);
      expect((await a.evaluate()).resolved).toEqual([]);
      expect(received.map((r) => r.type)).toEqual(["alert.firing", "alert.resolved"]);
    });

    const partnerCall = (refused: boolean, iface = "repay.trial"): EngineEvent => ({
      type: "partner.called",
      instanceId: "i",
      channel: "lanbank",
      interface: iface,
      outcome: refused ? "refused" : "answered",
      ...(refused ? { refusal: "concurrency" } : { httpStatus: 200 }),
      durationMs: 1,
    });

    test("limiter-saturated: refusals on either node minute after minute fire once after the rule's time, and resolve after a quiet spell", async () => {
      const { clock, a, b } = cluster([
        { name: "trial-limiter", kind: "limiter-saturated", for: "3m", clearAfter: "2m" },
      ]);
      // Every 20 seconds a call refused by the limiter, alternately on each node; another
      // interface is answered all along.
      let ticks = 0;
      const tick = async (refused: boolean) => {
        const node = ticks++ % 2 === 0 ? a : b;
        node.observe(partnerCall(refused));
        node.observe(partnerCall(false, "loan.apply"));
        await clock.advance(20 * second);
      };
      for (let i = 0; i < 5; i += 1) await tick(true);
      await b.flush();
      // Not yet three minutes in which the limiter refused.
      expect((await a.evaluate()).fired).toEqual([]);
      for (let i = 0; i < 4; i += 1) await tick(true);
      await a.flush();
      await b.flush();
      const fired = await b.evaluate();
      expect(fired.fired.map((alert) => alert.subject)).toEqual(["lanbank/repay.trial"]);
      for (let i = 0; i < 3; i += 1) await tick(true);
      await b.flush();
      expect((await a.evaluate()).fired).toEqual([]);

      // The refusals stop: a minute later it still fires, after two quiet minutes it resolves.
      for (let i = 0; i < 3; i += 1) await tick(false);
      expect((await a.evaluate()).resolved).toEqual([]);
      for (let i = 0; i < 4; i += 1) await tick(false);
      await a.flush();
      await b.flush();
      expect((await a.evaluate()).resolved.map((alert) => alert.subject)).toEqual([
        "lanbank/repay.trial",
      ]);
      expect((await b.evaluate()).resolved).toEqual([]);
      expect(received).toEqual([
        { type: "alert.firing", rule: "trial-limiter", subject: "lanbank/repay.trial" },
        { type: "alert.resolved", rule: "trial-limiter", subject: "lanbank/repay.trial" },
      ]);
    });

    const callback = (channel: string, refused: boolean): EngineEvent =>
      refused
        ? {
            type: "callback.rejected",
            channel,
            callback: "loan.result",
            code: "CRYPTO_VERIFY_FAILED",
            message: "the signature does not verify",
          }
        : {
            type: "callback.received",
            channel,
            callback: "loan.result",
            businessKey: "L-1",
            duplicate: false,
          };

    test("callbacks-refused: a channel refusing a share of its notifications over both nodes fires once, another channel does not, and it resolves", async () => {
      const { clock, a, b } = cluster([
        { name: "refused-callbacks", kind: "callbacks-refused", window: "5m", above: 0.3 },
      ]);
      for (let i = 0; i < 5; i += 1) a.observe(callback("lanbank", false));
      for (let i = 0; i < 3; i += 1) a.observe(callback("lanbank", true));
      for (let i = 0; i < 2; i += 1) b.observe(callback("lanbank", false));
      for (let i = 0; i < 3; i += 1) b.observe(callback("lanbank", true));
      for (let i = 0; i < 20; i += 1) b.observe(callback("meadow", i === 0));
      // Node A alone saw three refusals in eight notifications: under its minimum of ten.
      expect((await a.evaluate()).fired).toEqual([]);
      await b.flush();
      const fired = await a.evaluate();
      expect(fired.fired.map((alert) => [alert.subject, alert.details])).toEqual([
        ["lanbank", { channel: "lanbank", callbacks: 13, refused: 6, window: "5m" }],
      ]);
      expect((await b.evaluate()).fired).toEqual([]);

      await clock.advance(6 * minute);
      for (let i = 0; i < 10; i += 1) a.observe(callback("lanbank", false));
      expect((await a.evaluate()).resolved.map((alert) => alert.subject)).toEqual(["lanbank"]);
      expect(received).toEqual([
        { type: "alert.firing", rule: "refused-callbacks", subject: "lanbank" },
        { type: "alert.resolved", rule: "refused-callbacks", subject: "lanbank" },
      ]);
    });

    test("run: every node adds its counts each round, one node at a time evaluates", async () => {
      const { clock, a, b } = cluster([
        { name: "repayment-failures", kind: "failure-rate", window: "5m", above: 0.5 },
      ]);
      for (let i = 0; i < 6; i += 1) a.observe(call(true));
      for (let i = 0; i < 6; i += 1) b.observe(call(true));
      const controller = new AbortController();
      const runs = [a.run(controller.signal), b.run(controller.signal)];
      // Each run's first round flushes at once; wait until both nodes' counts are in.
      for (;;) {
        const { rows } = await db.knex.raw(
          `SELECT coalesce(sum(total), 0)::int AS n FROM "${db.schema}".alert_counts`,
        );
        if (rows[0].n === 12 && received.length === 1) break;
        await clock.advance(30 * second);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      controller.abort();
      await Promise.all(runs);
      expect(received).toEqual([
        { type: "alert.firing", rule: "repayment-failures", subject: "lanbank/repay.apply" },
      ]);
    }, 30_000);
  },
);
