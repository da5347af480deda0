import type {
  BehaviorDefinition,
  ChannelDefinition,
  DefinitionSource,
  ProductDefinition,
  UpstreamClientDefinition,
} from "@capflow/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";

/** How a suite writes definitions: each adapter has its own way (push to a database, put in memory). */
export type PublishDefinitions = (definitions: {
  channels?: ChannelDefinition[];
  behaviors?: BehaviorDefinition[];
  products?: ProductDefinition[];
  clients?: UpstreamClientDefinition[];
}) => Promise<void>;

/**
 * The behaviour every `DefinitionSource` must have: pinned versions never change, a changed
 * behavior becomes a new active version, an unchanged one does not, and `revision` moves with
 * every change so engines know to refresh.
 */
export function describeDefinitionSourceContract(
  name: string,
  open: () => Promise<{
    source: DefinitionSource;
    publish: PublishDefinitions;
    close: () => Promise<void>;
  }>,
): void {
  describe(`DefinitionSource contract: ${name}`, () => {
    let source: DefinitionSource;
    let publish: PublishDefinitions;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ source, publish, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    const channel: ChannelDefinition = {
      code: "contract",
      name: "Contract Bank (契约银行)",
      baseUrl: "http://127.0.0.1:9",
      timeZone: "Asia/Shanghai",
      crypto: { handler: "plain" },
      interfaces: { "loan.apply": { method: "POST", path: "/loan/apply" } },
    };
    const behavior = (description: string): BehaviorDefinition => ({
      channel: "contract",
      code: "loan",
      description,
      initial: "apply",
      steps: {
        apply: {
          kind: "call",
          interface: "loan.apply",
          request: { format: "json", body: { amount: "{{toCents input.amount}}" } },
          routes: [{ when: "outcome == 'succeeded'", to: "done" }],
          otherwise: "done",
        },
        done: { kind: "terminal", outcome: "succeeded" },
      },
    });

    test("serves channels and the active behavior version", async () => {
      await publish({ channels: [channel], behaviors: [behavior("first")] });
      expect((await source.getChannel("contract"))?.definition).toEqual(channel);
      expect(await source.getChannel("nobody")).toBeUndefined();
      const active = await source.getBehavior("contract", "loan");
      expect(active?.definition).toEqual(behavior("first"));
      expect(await source.getBehavior("contract", "nothing")).toBeUndefined();
      expect(await source.listBehaviors()).toEqual([
        { channel: "contract", behavior: "loan", activeVersion: active?.version },
      ]);
    });

    test("lists every channel, with or without behaviors, ordered by code", async () => {
      expect(await source.listChannels()).toEqual([]);
      await publish({
        channels: [{ ...channel, code: "zeta" }, channel, { ...channel, code: "Alpha" }],
        behaviors: [behavior("first")],
      });
      expect(await source.listChannels()).toEqual(["Alpha", "contract", "zeta"]);
    });

    test("a changed behavior is a new version; the pinned one stays; an unchanged push adds nothing", async () => {
      await publish({ channels: [channel], behaviors: [behavior("first")] });
      const first = await source.getBehavior("contract", "loan");
      const revision = await source.revision();

      await publish({ channels: [channel], behaviors: [behavior("first")] });
      expect((await source.getBehavior("contract", "loan"))?.version).toBe(first?.version);
      expect(await source.revision()).toBe(revision);

      await publish({ channels: [channel], behaviors: [behavior("second")] });
      const second = await source.getBehavior("contract", "loan");
      expect(second?.version).toBeGreaterThan(first?.version ?? Number.POSITIVE_INFINITY);
      expect(second?.definition.description).toBe("second");
      expect(await source.revision()).not.toBe(revision);
      const pinned = await source.getBehavior("contract", "loan", first?.version);
      expect(pinned?.definition.description).toBe("first");
      expect(await source.getBehavior("contract", "loan", 999)).toBeUndefined();
    });

    test("a changed channel moves the revision and is served at once", async () => {
      await publish({ channels: [channel] });
      const revision = await source.revision();
      await publish({ channels: [{ ...channel, baseUrl: "http://127.0.0.1:10" }] });
      expect(await source.revision()).not.toBe(revision);
      expect((await source.getChannel("contract"))?.definition.baseUrl).toBe("http://127.0.0.1:10");
    });

    test("products are served live: a changed product moves the revision and applies at once", async () => {
      const product: ProductDefinition = {
        code: "cash-loan",
        name: "Cash loan",
        channels: [{ channel: "contract", behavior: "loan", weight: 1 }],
      };
      await publish({ channels: [channel], behaviors: [behavior("first")], products: [product] });
      expect(await source.getProduct("cash-loan")).toEqual(product);
      expect(await source.getProduct("missing")).toBeUndefined();
      const revision = await source.revision();
      const reweighted = { ...product, channels: [{ ...product.channels[0]!, weight: 3 }] };
      await publish({ products: [reweighted] });
      expect(await source.revision()).not.toBe(revision);
      expect((await source.getProduct("cash-loan"))?.channels[0]?.weight).toBe(3);
      expect((await source.listProducts()).map((p) => p.code)).toEqual(["cash-loan"]);
    });

    test("upstream clients are served live: a changed key moves the revision and applies at once", async () => {
      const client: UpstreamClientDefinition = {
        id: "platform",
        signature: { algorithm: "hmac-sha256", key: { ref: "env:PLATFORM_SECRET" } },
        allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
        allow: { behaviors: ["contract/loan"] },
        notify: { url: "https://platform.example.test/notify" },
      };
      expect(await source.listClients()).toEqual([]);
      await publish({
        channels: [channel],
        behaviors: [behavior("first")],
        clients: [client, { ...client, id: "billing" }],
      });
      expect((await source.getClient("platform"))?.definition).toEqual(client);
      expect(await source.getClient("missing")).toBeUndefined();
      expect(await source.listClients()).toEqual(["billing", "platform"]);
      const revision = await source.revision();
      const rotated = { ...client, signature: { ...client.signature, key: { ref: "env:NEW" } } };
      await publish({ clients: [rotated] });
      expect(await source.revision()).not.toBe(revision);
      expect((await source.getClient("platform"))?.definition.signature.key.ref).toBe("env:NEW");
    });
  });
}
