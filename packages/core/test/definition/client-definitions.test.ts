import { describe, expect, test } from "vitest";
import type { UpstreamClientDefinition } from "../../src/definition/client-types.ts";
import { compileIpAllowList } from "../../src/definition/ip-allow-list.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";

const channel: ChannelDefinition = {
  code: "bank",
  name: "Bank",
  baseUrl: "https://bank.example.test",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan/apply", idempotent: true } },
};

const behavior: BehaviorDefinition = {
  channel: "bank",
  code: "loan",
  initial: "apply",
  steps: {
    apply: {
      kind: "call",
      interface: "loan.apply",
      request: { format: "json", body: {} },
      routes: [{ when: 'outcome == "succeeded"', to: "done" }],
      otherwise: "done",
    },
    done: { kind: "terminal", outcome: "succeeded" },
  },
};

const client: UpstreamClientDefinition = {
  id: "platform",
  signature: { algorithm: "rsa-sha256", key: { ref: "file:keys/platform-public.pem" } },
  allowedIps: ["10.1.0.0/16", "192.0.2.7", "2001:db8::/32"],
  allow: { behaviors: ["bank/loan", "bank/*"] },
  notify: { url: "https://platform.example.test/capflow/notify" },
};

function check(...clients: unknown[]) {
  return validateDefinitions({
    channels: [{ file: "bank.channel.json", definition: channel }],
    behaviors: [{ file: "loan.behavior.json", definition: behavior }],
    clients: clients.map((definition, index) => ({ file: `c${index}.client.json`, definition })),
  });
}

describe("upstream client definitions", () => {
  test("a valid client is loaded", () => {
    const result = check(client);
    expect(result.problems).toEqual([]);
    expect(result.clients).toEqual([client]);
  });

  test("schema, allow-list, key format, references and duplicates are checked", () => {
    const result = check(
      {
        ...client,
        allowedIps: ["10.1.2.3/16", "10.300.0.0/16", "fe80::/10"],
        signature: { algorithm: "hmac-sha256", key: { ref: "env:SECRET", format: "pem" } },
        allow: { behaviors: ["bank/lona"], products: ["cash"] },
      },
      client,
      {
        id: "x",
        signature: { algorithm: "md5", key: { ref: "env:X" } },
        allowedIps: [],
        allow: {},
      },
    );
    expect(result.problems.map((p) => [p.file, p.code, p.pointer])).toEqual([
      ["c0.client.json", "client-settings", "/allowedIps/0"],
      ["c0.client.json", "client-settings", "/allowedIps/1"],
      ["c0.client.json", "client-settings", "/signature/key/format"],
      ["c0.client.json", "client-settings", "/allow/behaviors/0"],
      ["c0.client.json", "client-settings", "/allow/products/0"],
      ["c1.client.json", "duplicate-client", "/id"],
      ["c2.client.json", "schema", "/signature/algorithm"],
      ["c2.client.json", "schema", "/allowedIps"],
    ]);
    expect(result.problems[3]?.message).toContain('did you mean "bank/loan"?');
  });
});

describe("IP allow-lists", () => {
  test("IPv4 and IPv6 CIDRs and single addresses; IPv4-mapped IPv6 matches IPv4 ranges", () => {
    const list = compileIpAllowList(["10.1.0.0/16", "192.0.2.7", "2001:db8::/32"]);
    expect(list.allows("10.1.200.3")).toBe(true);
    expect(list.allows("::ffff:10.1.0.9")).toBe(true);
    expect(list.allows("10.2.0.1")).toBe(false);
    expect(list.allows("192.0.2.7")).toBe(true);
    expect(list.allows("192.0.2.8")).toBe(false);
    expect(list.allows("2001:db8:1::5")).toBe(true);
    expect(list.allows("2001:db9::1")).toBe(false);
    expect(list.allows("::1")).toBe(false);
    expect(list.allows("not an address")).toBe(false);
  });
});
