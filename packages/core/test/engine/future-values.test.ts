import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { mirrorCryptoDefinition } from "../../src/crypto/configurable/mirror.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { jsonCodec } from "../../src/message/codecs/json-codec.ts";
import { engineHarness } from "../support/harness.ts";
import { testChannel } from "../support/loan-definitions.ts";

const secrets = createDefaultSecretResolver({ allowInline: true });
const signature = {
  algorithm: "hmac-sha256",
  canonical: { kind: "rawBody" },
  placement: { in: "header", name: "X-Sign" },
};
/** Requests and notifications signed with an HMAC key shared with the funder. */
const crypto = (key: string): ChannelDefinition["crypto"] => ({
  handler: "configurable",
  options: {
    keys: { secret: { ref: `inline:${key}` } },
    request: { signature },
    callback: { signature },
  },
});

/** The funder announced a new key from 2026-01-06 00:00 in Shanghai (2026-01-05T16:00Z). */
const switchAt = Date.UTC(2026, 0, 5, 16, 0, 0);
const channel: ChannelDefinition = {
  ...testChannel,
  crypto: crypto("old-key"),
  future: [
    {
      effectiveFrom: "2026-01-06",
      values: { crypto: crypto("new-key") },
      overlap: "30m",
      description: "the funder's new key",
    },
  ],
};

/** A notification as the funder signs it with `key`. */
async function notification(key: string, notifyId: string) {
  const funder = await createCryptoHandlerRegistry().create(
    mirrorCryptoDefinition(crypto(key), {}),
    {
      secrets,
    },
  );
  const wire = await funder.sealRequest({
    method: "POST",
    path: "/callbacks/lanbank/loan.result",
    headers: {},
    query: {},
    body: { loanNo: `L-${notifyId}`, notifyId, status: "PROCESSING" },
    codec: jsonCodec,
  });
  return { method: "POST", path: wire.path, headers: wire.headers, body: wire.body };
}

describe("future values of a channel take effect at their instant, without a push", () => {
  test("requests are signed with the new key from the instant on", async () => {
    const h = engineHarness({ channel, engine: { secrets } });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const signedWith = (key: string, request: { body: unknown; headers: Record<string, string> }) =>
      createHmac("sha256", key).update(JSON.stringify(request.body)).digest("hex").toUpperCase() ===
      request.headers["x-sign"];

    await h.clock.advance(switchAt - 1_000 - h.clock.now());
    await h.startLoan("L-before");
    await h.engine.runDue();
    await h.clock.advance(1_000); // exactly the instant
    await h.startLoan("L-after");
    await h.engine.runDue();

    const [before, after] = h.transport.requests.filter((r) => r.path === "/loan/apply");
    expect(signedWith("old-key", before!)).toBe(true);
    expect(signedWith("new-key", after!)).toBe(true);
    expect(signedWith("old-key", after!)).toBe(false);
  });

  test("both keys verify notifications during the overlap; afterwards only the new one", async () => {
    const h = engineHarness({ channel, engine: { secrets } });
    const receive = async (key: string, id: string) =>
      (await h.engine.receiveCallback("lanbank", "loan.result", await notification(key, id)))
        .accepted;

    await h.clock.advance(switchAt - 60_000 - h.clock.now());
    expect(await receive("old-key", "1")).toBe(true);
    expect(await receive("new-key", "2")).toBe(false);

    await h.clock.advance(60_000); // the switch: the new key, and the old one for 30 minutes more
    expect(await receive("new-key", "3")).toBe(true);
    expect(await receive("old-key", "4")).toBe(true);
    await h.clock.advance(29 * 60_000);
    expect(await receive("old-key", "5")).toBe(true);

    await h.clock.advance(60_000); // the overlap is over
    expect(await receive("old-key", "6")).toBe(false);
    expect(await receive("new-key", "7")).toBe(true);
  });
});

describe("validating future values", () => {
  test("a bad instant, a new code, or a channel left without what a behavior needs are problems", async () => {
    const { validateDefinitions } = await import("../../src/definition/validate-definitions.ts");
    const { loanBehavior } = await import("../support/loan-definitions.ts");
    const broken: ChannelDefinition = {
      ...testChannel,
      future: [
        { effectiveFrom: "next month", values: { baseUrl: "http://bank-2.test" } },
        {
          effectiveFrom: "2026-02-01T00:00:00+08:00",
          values: { code: "other", interfaces: { "loan.query": null } },
        },
      ],
    };
    const { problems } = validateDefinitions({
      channels: [{ file: "c.json", definition: broken }],
      behaviors: [{ file: "b.json", definition: loanBehavior() }],
    });
    expect(problems.map((p) => [p.code, p.pointer])).toEqual(
      expect.arrayContaining([
        ["future-values", "/future/0/effectiveFrom"],
        ["future-values", "/future/1/values/code"],
        ["unknown-interface", "/steps/query/interface"],
      ]),
    );
    const lost = problems.find((p) => p.code === "unknown-interface");
    expect(lost?.message).toMatch(
      /^from 2026-02-01T00:00:00\+08:00 \(future values\): channel "\w+" has no interface "loan.query"/,
    );
  });
});
