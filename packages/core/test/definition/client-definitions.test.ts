import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { UpstreamClientDefinition } from "../../src/definition/client-types.ts";
import { compileIpAllowList } from "../../src/definition/ip-allow-list.ts";
import { loadDefinitions } from "../../src/definition/load-definitions.ts";
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

describe("client keys with --check-secrets", () => {
  test("a key that does not resolve or does not parse is a problem at /signature/key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capflow-clients-"));
    try {
      const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      await writeFile(join(dir, "good.pem"), publicKey.export({ type: "spki", format: "pem" }));
      await writeFile(join(dir, "junk.pem"), "not a key");
      const write = (id: string, ref: string) =>
        writeFile(
          join(dir, `${id}.client.json`),
          JSON.stringify({
            id,
            signature: { algorithm: "rsa-sha256", key: { ref } },
            allowedIps: ["127.0.0.1"],
            allow: {},
          }),
        );
      await write("good", "file:good.pem");
      await write("missing", "file:missing.pem");
      await write("junk", "file:junk.pem");
      const result = await loadDefinitions(dir, {
        checkSecrets: {
          cryptoHandlers: createCryptoHandlerRegistry(),
          secrets: createDefaultSecretResolver({ baseDir: dir }),
          baseDir: dir,
          clock: { now: () => Date.now() },
        },
      });
      expect(result.problems.map((p) => [p.file, p.code, p.pointer])).toEqual([
        ["junk.client.json", "key-invalid", "/signature/key"],
        ["missing.client.json", "secret-unresolved", "/signature/key"],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
