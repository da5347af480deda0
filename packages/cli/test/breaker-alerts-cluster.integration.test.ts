import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AlertMonitor,
  createDefaultSecretResolver,
  FlowControl,
  type FlowRequest,
  ManualClock,
} from "@capflow/core";
import { type CapflowRedis, openRedis } from "@capflow/lock-redis";
import { KnexAlertStore, knexExclusiveRunner } from "@capflow/store-knex";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { openTestPostgres } from "../../store-knex/test/support/databases.ts";

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;
const minute = 60_000;

/**
 * Breakers are per node; the `breaker-open` rule reads the board every node reports to (Redis),
 * so the node evaluating the rules sees a breaker another node holds open, and stops counting a
 * dead node's report once it expires.
 */
describe.skipIf(!databaseUrl || !redisUrl)(
  databaseUrl && redisUrl
    ? "breaker-open judged over every node (PostgreSQL and Redis)"
    : "breaker-open over every node: skipped, set DATABASE_URL and REDIS_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    /** Each node's own connection to the shared Redis. */
    let redisA: CapflowRedis;
    let redisB: CapflowRedis;
    let receiver: Server;
    let url: string;
    const keyPrefix = `capflow-test:${randomBytes(5).toString("hex")}:`;
    const received: { type: string; subject: string; summary: string }[] = [];

    beforeAll(async () => {
      db = await openTestPostgres();
      redisA = await openRedis({ url: redisUrl!, keyPrefix });
      redisB = await openRedis({ url: redisUrl!, keyPrefix });
      receiver = createServer((request, response) => {
        let body = "";
        request.setEncoding("utf8");
        request.on("data", (chunk: string) => {
          body += chunk;
        });
        request.on("end", () => {
          const event = JSON.parse(body);
          received.push({
            type: event.type,
            subject: event.alert.subject,
            summary: event.alert.summary,
          });
          response.writeHead(204).end();
        });
      });
      receiver.listen(0, "127.0.0.1");
      await once(receiver, "listening");
      url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    });
    afterAll(async () => {
      await new Promise((resolve) => receiver?.close(resolve));
      await redisA?.client.del(`${keyPrefix}breakers`);
      await redisA?.close();
      await redisB?.close();
      await db?.drop();
    });
    beforeEach(async () => {
      received.length = 0;
      await db.knex.raw(`TRUNCATE "${db.schema}".alerts, "${db.schema}".alert_history`);
    });

    const apply: FlowRequest = {
      channel: "lanbank",
      interface: "loan.apply",
      limits: {},
      bulkhead: 16,
      // Open after two failures; probe after ten minutes.
      breaker: { minimumCalls: 2, sampleSize: 2, cooldownMs: 10 * minute },
    };

    /** Node A calls the partner (its breaker opens); node B runs the alert monitor. */
    function twoNodes() {
      const clock = new ManualClock(Date.parse("2026-03-10T01:00:00Z"));
      const nodeA = new FlowControl({
        limiter: redisA.limiter,
        breakerBoard: redisA.breakers,
        node: "node-a",
        clock,
      });
      const monitorB = new AlertMonitor({
        config: {
          rules: [{ name: "breakers", kind: "breaker-open" }],
          sinks: [{ name: "ops", kind: "webhook", url, secret: "inline:whsec" }],
        },
        store: new KnexAlertStore(db),
        exclusive: knexExclusiveRunner(db),
        breakers: redisB.breakers,
        clock,
        secrets: createDefaultSecretResolver({ allowInline: true }),
      });
      const nodeB = new FlowControl({
        limiter: redisB.limiter,
        breakerBoard: redisB.breakers,
        node: "node-b",
        clock,
        onEvent: (event) => monitorB.observeFlow(event),
      });
      return { clock, nodeA, nodeB, monitorB };
    }

    /** Two failed calls: the node's breaker opens, and it reports so to the board. */
    async function failTwice(node: FlowControl): Promise<void> {
      for (let i = 0; i < 2; i++) {
        const entry = await node.enter(apply);
        if (!entry.admitted) throw new Error(`call ${i + 1} should have gone out`);
        await entry.ticket.complete("failure");
      }
      expect(node.breakerState("lanbank", "loan.apply")).toBe("open");
    }

    /** The board is written after the state change, without waiting: read until it shows. */
    async function boardNodes(clock: ManualClock): Promise<string[]> {
      const reports = await redisB.breakers.list(clock.now());
      return reports.map((report) => `${report.node}:${report.state}`).sort();
    }

    test("a breaker open on one node fires on the node evaluating, once, naming the node; closing resolves it", async () => {
      const { clock, nodeA, nodeB, monitorB } = twoNodes();
      await failTwice(nodeA);
      await expect.poll(() => boardNodes(clock)).toEqual(["node-a:open"]);
      expect(nodeB.breakerState("lanbank", "loan.apply")).toBe("closed");

      const round = await monitorB.evaluate();
      expect(round.fired.map((alert) => [alert.subject, alert.details])).toEqual([
        [
          "lanbank/loan.apply",
          { channel: "lanbank", interface: "loan.apply", openOn: ["node-a"], halfOpenOn: [] },
        ],
      ]);
      expect(round.fired[0]!.summary).toContain("open on node-a");
      // Evaluated again: still one alert, sent once.
      expect((await monitorB.evaluate()).fired).toEqual([]);
      expect(received.map((r) => [r.type, r.subject])).toEqual([
        ["alert.firing", "lanbank/loan.apply"],
      ]);

      // Node B's own breaker opening and closing changes nothing while node A's stays open.
      await failTwice(nodeB);
      await clock.advance(10 * minute);
      const probeB = await nodeB.enter(apply);
      expect(probeB.admitted).toBe(true);
      if (probeB.admitted) await probeB.ticket.complete("success");
      expect(nodeB.breakerState("lanbank", "loan.apply")).toBe("closed");
      await expect.poll(() => boardNodes(clock)).toEqual(["node-a:open"]);
      expect((await monitorB.evaluate()).resolved).toEqual([]);

      // Node A's probe succeeds: no node holds the breaker, the alert resolves.
      const probeA = await nodeA.enter(apply);
      expect(probeA.admitted).toBe(true);
      if (probeA.admitted) await probeA.ticket.complete("success");
      await expect.poll(() => boardNodes(clock)).toEqual([]);
      const resolved = await monitorB.evaluate();
      expect(resolved.resolved.map((alert) => alert.subject)).toEqual(["lanbank/loan.apply"]);
      expect(received.map((r) => [r.type, r.subject])).toEqual([
        ["alert.firing", "lanbank/loan.apply"],
        ["alert.resolved", "lanbank/loan.apply"],
      ]);
      expect(await new KnexAlertStore(db).listAlerts({ status: "firing", limit: 10 })).toEqual([]);
    });

    test("a node that died with its breaker open stops counting once its report expires", async () => {
      const { clock, nodeA, monitorB } = twoNodes();
      await failTwice(nodeA);
      await expect.poll(() => boardNodes(clock)).toEqual(["node-a:open"]);
      const [report] = await redisB.breakers.list(clock.now());
      expect((await monitorB.evaluate()).fired.map((alert) => alert.subject)).toEqual([
        "lanbank/loan.apply",
      ]);

      // Node A dies here: nothing closes its breaker or renews its report.
      clock.set(report!.expiresAt - 1);
      expect((await monitorB.evaluate()).resolved).toEqual([]);
      expect(
        (await new KnexAlertStore(db).listAlerts({ status: "firing", limit: 10 })).length,
      ).toBe(1);

      clock.set(report!.expiresAt);
      const round = await monitorB.evaluate();
      expect(round.resolved.map((alert) => alert.subject)).toEqual(["lanbank/loan.apply"]);
      expect(received.map((r) => r.type)).toEqual(["alert.firing", "alert.resolved"]);
    });
  },
);
