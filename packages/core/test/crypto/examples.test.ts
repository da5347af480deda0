import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  mirrorCryptoDefinition,
  type PartnerKeySet,
} from "../../src/crypto/configurable/mirror.ts";
import { createCryptoHandlerRegistry } from "../../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { CryptoDefinition } from "../../src/definition/types.ts";
import { flatXmlCodec, formCodec, jsonCodec } from "./fixtures/codecs.ts";

const examples = join(dirname(fileURLToPath(import.meta.url)), "../../../../examples");

const cases = [
  { name: "lanbank", request: jsonCodec, response: jsonCodec, callbacks: true },
  { name: "meadow", request: formCodec, response: flatXmlCodec, callbacks: false },
  { name: "jade-trust", request: jsonCodec, response: jsonCodec, callbacks: true },
];

function load(name: string): { crypto: CryptoDefinition; partner: PartnerKeySet } | undefined {
  const file = join(examples, name, "definitions", `${name}.channel.json`);
  if (!existsSync(file)) return undefined;
  const channel = JSON.parse(readFileSync(file, "utf8")) as { crypto: CryptoDefinition };
  if (Object.keys(channel.crypto.options ?? {}).length === 0) return undefined;
  const partner = JSON.parse(
    readFileSync(join(examples, name, "keys", "partner.crypto.json"), "utf8"),
  ) as {
    keys: PartnerKeySet;
  };
  return { crypto: channel.crypto, partner: partner.keys };
}

describe.each(cases)("example channel $name: crypto options with its test keys", (example) => {
  const loaded = load(example.name);
  it.skipIf(loaded === undefined)("client and mirrored partner talk to each other", async () => {
    if (loaded === undefined) return;
    const registry = createCryptoHandlerRegistry();
    expect(registry.validateOptions("configurable", loaded.crypto.options)).toEqual([]);
    const deps = {
      secrets: createDefaultSecretResolver(),
      baseDir: join(examples, example.name, "definitions"),
      channel: example.name,
    };
    const client = await registry.create(loaded.crypto, deps);
    const partner = await registry.create(
      mirrorCryptoDefinition(loaded.crypto, loaded.partner),
      deps,
    );
    const wire = await client.sealRequest({
      method: "POST",
      path: "/loan/apply",
      headers: {},
      query: {},
      body: { loanNo: "L1", amount: "100.00" },
      codec: example.request,
    });
    const received = await partner.openRequest(wire, example.request);
    expect(received.body).toMatchObject({ loanNo: "L1", amount: "100.00" });
    const answer = await partner.sealResponse(
      { status: 200, headers: {}, body: { respCode: "0000" }, codec: example.response },
      received,
    );
    expect((await client.openResponse(answer, wire, example.response)).body).toMatchObject({
      respCode: "0000",
    });
    if (example.callbacks) {
      const notice = await partner.sealRequest({
        method: "POST",
        path: "/callbacks",
        headers: {},
        query: {},
        body: { loanNo: "L1", status: "SUCCESS" },
        codec: jsonCodec,
      });
      expect((await client.openRequest(notice, jsonCodec)).body).toMatchObject({
        status: "SUCCESS",
      });
    }
  });
  if (loaded === undefined) {
    it.skip(`examples/${example.name}/definitions/${example.name}.channel.json has no crypto options yet`, () => {});
  }
});
