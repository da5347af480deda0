import { describe, expect, test } from "vitest";
import { MemoryDefinitionSource } from "../../src/memory/memory-definition-source.ts";
import { clientNotifyUrls, notificationTargets } from "../../src/outbox/notification-targets.ts";
import type { NotificationRecord } from "../../src/ports/outbox-store.ts";

const to = (target: string | null) => ({ target }) as NotificationRecord;

describe("where notifications go", () => {
  test("a client's notify.url for its notifications, the default for the others", async () => {
    const definitions = new MemoryDefinitionSource();
    definitions.putClient({
      id: "loan-platform",
      signature: { algorithm: "hmac-sha256", key: { ref: "env:LOAN_PLATFORM_SECRET" } },
      allowedIps: ["10.0.0.0/8"],
      allow: { behaviors: ["lanbank/*"] },
      notify: { url: "https://loan-platform.internal/capflow/notify" },
    });
    definitions.putClient({
      id: "quiet",
      signature: { algorithm: "hmac-sha256", key: { ref: "env:QUIET_SECRET" } },
      allowedIps: ["10.0.0.0/8"],
      allow: {},
    });
    const targets = notificationTargets({
      fallback: "https://ops.internal/notify",
      byName: clientNotifyUrls(definitions),
    });
    expect(await targets.resolve(to("loan-platform"))).toBe(
      "https://loan-platform.internal/capflow/notify",
    );
    expect(await targets.resolve(to("quiet"))).toBe("https://ops.internal/notify");
    expect(await targets.resolve(to("unknown"))).toBe("https://ops.internal/notify");
    expect(await targets.resolve(to(null))).toBe("https://ops.internal/notify");
    expect(
      await notificationTargets({ byName: { a: "http://a.test/n" } }).resolve(to("b")),
    ).toBeUndefined();
  });
});
