import { ManualClock } from "@capflow/core";
import { digestOf } from "@capflow/core/internal";
import { KnexAlertStore, KnexStartQueueStore, KnexStuckStore } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CapflowMetrics } from "../src/index.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)("operator API: business protection (PostgreSQL)", () => {
  let server: TestServer;
  let tokens: Awaited<ReturnType<typeof tokensByRole>>;
  let ops: ReturnType<typeof opsClient>;
  let alertId: string;
  const t0 = Date.UTC(2026, 0, 5, 2);

  beforeAll(async () => {
    // The stores are built on the server's database once it exists.
    let stores: { stuck?: KnexStuckStore; alerts?: KnexAlertStore; queues?: KnexStartQueueStore } =
      {};
    server = await startTestServer({
      protection: {
        stuck: {
          listStuck: (f) => stores.stuck!.listStuck(f),
          stuckCounts: () => stores.stuck!.stuckCounts(),
        },
        alerts: {
          listAlerts: (f) => stores.alerts!.listAlerts(f),
          alertHistory: (id) => stores.alerts!.alertHistory(id),
        },
        queues: { queueDepths: () => stores.queues!.queueDepths() },
      },
    });
    stores = {
      stuck: new KnexStuckStore(server.db),
      alerts: new KnexAlertStore(server.db),
      queues: new KnexStartQueueStore(server.db),
    };
    tokens = await tokensByRole(server.db);
    ops = opsClient(server.url);
    await stores.stuck!.recordBreaches([
      {
        instanceId: "i-1",
        channel: "shop",
        behavior: "order",
        businessKey: "O-1",
        step: "wait",
        scope: "step",
        slaMs: 600_000,
        since: t0,
        detectedAt: t0 + 660_000,
      },
    ]);
    const { alert } = await stores.alerts!.openAlert({
      id: "0b8f3c1e-8a55-4a2b-9a51-0d7c6f1e2a33",
      rule: "stuck-orders",
      subject: "shop",
      severity: "critical",
      summary: "1 stuck instance on shop",
      details: { stuck: 1 },
      firedAt: t0 + 660_000,
    });
    alertId = alert.id;
    await stores.queues!.enqueue({
      id: "5a0c1c1e-1b55-4a2b-9a51-0d7c6f1e2a44",
      channel: "shop",
      behavior: "order",
      businessKey: "O-9",
      input: {},
      inputDigest: digestOf({}),
      enqueuedAt: t0,
      expiresAt: t0 + 60_000,
    });
  });
  afterAll(async () => {
    await server.close();
  });

  test("a viewer lists stuck instances with their counts, alerts with their history, and queue depths", async () => {
    const stuck = await ops("GET", "/stuck?channel=shop", { token: tokens.viewer });
    expect(stuck.status).toBe(200);
    expect(stuck.json).toEqual({
      counts: [{ channel: "shop", behavior: "order", step: "wait", count: 1 }],
      items: [
        expect.objectContaining({
          instanceId: "i-1",
          businessKey: "O-1",
          scope: "step",
          since: new Date(t0).toISOString(),
        }),
      ],
    });
    const alerts = await ops("GET", "/alerts?status=firing", { token: tokens.viewer });
    expect(alerts.json).toEqual({
      items: [
        expect.objectContaining({
          id: alertId,
          rule: "stuck-orders",
          status: "firing",
          resolvedAt: null,
        }),
      ],
    });
    const history = await ops("GET", `/alerts/${alertId}/history`, { token: tokens.viewer });
    expect(history.json).toEqual({ items: [expect.objectContaining({ event: "fired" })] });
    const queues = await ops("GET", "/queues", { token: tokens.viewer });
    expect(queues.json).toEqual({
      items: [
        {
          channel: "shop",
          behavior: "order",
          depth: 1,
          oldestEnqueuedAt: new Date(t0).toISOString(),
        },
      ],
    });
  });

  test("no token, a forged token, malformed or oversized queries are refused", async () => {
    expect((await ops("GET", "/stuck")).status).toBe(401);
    expect((await ops("GET", "/alerts", { token: "cf_forged_token" })).status).toBe(401);
    expect((await ops("GET", "/stuck?limit=0", { token: tokens.viewer })).status).toBe(400);
    expect((await ops("GET", "/stuck?unknown=1", { token: tokens.viewer })).status).toBe(400);
    expect(
      (await ops("GET", `/stuck?channel=${"x".repeat(300)}`, { token: tokens.viewer })).status,
    ).toBe(400);
    expect((await ops("GET", "/alerts?status=burning", { token: tokens.viewer })).status).toBe(400);
    expect((await ops("GET", "/alerts/not-a-uuid/history", { token: tokens.viewer })).status).toBe(
      400,
    );
  });

  test("/metrics gauges: stuck instances and queued starts, ages on the metrics' clock", async () => {
    const metrics = new CapflowMetrics({
      processMetrics: false,
      protection: {
        stuck: new KnexStuckStore(server.db),
        queues: new KnexStartQueueStore(server.db),
      },
      // 90 s after the start was queued.
      clock: new ManualClock(t0 + 90_000),
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'capflow_stuck_instances{channel="shop",behavior="order",step="wait"} 1',
    );
    expect(text).toContain('capflow_queued_starts{channel="shop",behavior="order"} 1');
    expect(text).toContain(
      'capflow_queued_start_oldest_age_seconds{channel="shop",behavior="order"} 90\n',
    );
  });
});
