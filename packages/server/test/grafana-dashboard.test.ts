import { readFile } from "node:fs/promises";
import { MemoryInstanceStore } from "@capflow/core";
import { expect, test } from "vitest";
import { CapflowMetrics } from "../src/index.ts";

test("the Grafana dashboard in docs/ queries only metrics capflow exports", async () => {
  const dashboard = JSON.parse(
    await readFile(new URL("../../../docs/grafana-dashboard.json", import.meta.url), "utf8"),
  ) as { panels: { targets: { expr: string }[] }[] };
  const metrics = new CapflowMetrics({ store: new MemoryInstanceStore(), processMetrics: false });
  const exported = new Set(
    (await metrics.registry.getMetricsAsJSON()).flatMap((metric) =>
      String(metric.type) === "histogram"
        ? [`${metric.name}_bucket`, `${metric.name}_count`, `${metric.name}_sum`]
        : [metric.name],
    ),
  );
  const queried = dashboard.panels.flatMap((panel) =>
    panel.targets.flatMap((target) => target.expr.match(/capflow_[a-z_]+/g) ?? []),
  );
  expect(queried.length).toBeGreaterThan(10);
  expect(queried.filter((name) => !exported.has(name))).toEqual([]);
});
