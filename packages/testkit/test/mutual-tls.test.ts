import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BehaviorDefinition,
  type ChannelDefinition,
  type ChannelTlsDefinition,
  codecFor,
  createDefaultSecretResolver,
  createEngine,
  type Engine,
  type EngineEvent,
  MemoryDefinitionSource,
  MemoryInstanceStore,
  ProcessorRegistry,
  plainCryptoHandler,
  registerBuiltinProcessors,
  validateDefinitions,
} from "@capflow/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  byField,
  type MockFunder,
  startMockFunder,
  TestCertificateAuthority,
} from "../src/index.ts";

/**
 * Mutual TLS per channel, end to end: the engine presents each channel's client certificate to a
 * mock funder on loopback HTTPS that requires one, trusts only the channel's CA, and turns bad TLS
 * settings into errors that say what to fix, without losing or double-sending anything.
 */
const authority = new TestCertificateAuthority("Lan Bank test CA");
const otherAuthority = new TestCertificateAuthority("someone else's CA");
const p12Password = "p12-secret";
const wrongPassword = "guessed-wrong";

let keysDir: string;
let funder: MockFunder;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  keysDir = await mkdtemp(join(tmpdir(), "capflow-mtls-"));
  const alpha = authority.issueClient("platform-alpha");
  const beta = authority.issueClient("platform-beta");
  const rogue = otherAuthority.issueClient("platform-alpha");
  const files: Record<string, string | Buffer> = {
    "bank-ca.pem": authority.cert,
    "other-ca.pem": otherAuthority.cert,
    "alpha.key": alpha.key,
    "alpha.crt": alpha.cert,
    "beta.crt": beta.cert,
    "beta.p12": beta.pkcs12(p12Password),
    "rogue.key": rogue.key,
    "rogue.crt": rogue.cert,
  };
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(keysDir, name), content);
  }
  const plain = await plainCryptoHandler.create({}, {} as never);
  funder = await startMockFunder({
    handler: plain,
    codec: codecFor("json"),
    businessKey: byField("orderNo"),
    tls: { ...authority.issueServer(), clientCa: authority.cert },
    endpoints: {
      "POST /loan/apply": { answer: () => ({ body: { code: "0000", orderNo: "x" } }) },
      "POST /loan/query": { answer: () => ({ body: { code: "0000" } }) },
    },
  });
}, 30_000);
afterAll(async () => {
  await funder?.close();
  await rm(keysDir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await funder.reset();
});

function channel(code: string, tls: ChannelTlsDefinition | undefined): ChannelDefinition {
  return {
    code,
    name: code,
    baseUrl: funder.url,
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    ...(tls === undefined ? {} : { tls }),
    interfaces: {
      "loan.apply": { method: "POST", path: "/loan/apply", timeout: "2s" },
      "loan.query": { method: "POST", path: "/loan/query", idempotent: true, timeout: "2s" },
    },
  };
}

function behavior(channelCode: string): BehaviorDefinition {
  return {
    channel: channelCode,
    code: "loan",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "loan.apply",
        request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
        response: { format: "json" },
        routes: [{ when: 'body.code == "0000"', to: "done" }],
        otherwise: "failed",
        onUnknownOutcome: "check",
      },
      check: {
        kind: "poll",
        interface: "loan.query",
        request: { format: "json", body: { orderNo: "{{input.orderNo}}" } },
        response: { format: "json" },
        schedule: ["1s", "1s", "1s"],
        routes: [{ when: 'body.code == "0000"', to: "done" }],
        onExhausted: "failed",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
    },
  };
}

const alphaTls: ChannelTlsDefinition = {
  clientKey: { ref: "file:alpha.key" },
  clientCertificate: "file:alpha.crt",
  ca: ["file:bank-ca.pem"],
};
const betaTls: ChannelTlsDefinition = {
  clientKey: { ref: "file:beta.p12", format: "pkcs12", password: "env:BETA_P12_PASSWORD" },
  ca: ["file:bank-ca.pem"],
};

async function engineFor(channels: ChannelDefinition[]) {
  const behaviors = channels.map((item) => behavior(item.code));
  const problems = validateDefinitions({
    channels: channels.map((definition) => ({ file: definition.code, definition })),
    behaviors: behaviors.map((definition) => ({ file: definition.channel, definition })),
  }).problems;
  expect(problems).toEqual([]);
  const definitions = new MemoryDefinitionSource({ channels, behaviors, baseDir: keysDir });
  const events: EngineEvent[] = [];
  const engine: Engine = createEngine({
    store: new MemoryInstanceStore(),
    definitions,
    processors: registerBuiltinProcessors(new ProcessorRegistry()),
    secrets: createDefaultSecretResolver({
      env: { BETA_P12_PASSWORD: p12Password, WRONG_P12_PASSWORD: wrongPassword },
    }),
    onEvent: (event) => events.push(event),
  });
  cleanups.push(() => engine.close());
  /** Starts one loan (order number = business key), runs what is due, and reads it back. */
  const runLoan = async (channelCode: string, orderNo: string) => {
    const { id } = await engine.start({
      channel: channelCode,
      behavior: "loan",
      businessKey: orderNo,
      input: { orderNo },
    });
    await engine.runDue();
    return (await engine.getInstance(id))!;
  };
  return { engine, events, runLoan };
}

describe("mutual TLS per channel", () => {
  test("each channel presents its own client certificate (PEM or PKCS#12) on one funder host", async () => {
    const { runLoan } = await engineFor([channel("alpha", alphaTls), channel("beta", betaTls)]);
    expect((await runLoan("alpha", "A1")).status).toBe("succeeded");
    expect((await runLoan("beta", "B1")).status).toBe("succeeded");
    const seen = funder
      .requests()
      .map((request) => [request.businessKey, request.clientCertificate]);
    expect(seen.sort()).toEqual([
      ["A1", "platform-alpha"],
      ["B1", "platform-beta"],
    ]);
  });

  test("a channel without a client certificate is turned away; nothing reaches the funder", async () => {
    const { runLoan, events } = await engineFor([channel("anon", { ca: ["file:bank-ca.pem"] })]);
    const instance = await runLoan("anon", "N1");
    // With TLS 1.3 the server refuses after the client has finished its handshake: the client
    // usually sees only a closed connection, which it cannot tell from a crash after processing,
    // so the non-idempotent apply goes to its query step; when the server's alert is read first,
    // the call is known not sent and stays to be retried. Either way nothing was processed.
    const unknown = instance?.lastError?.code === "TRANSPORT_UNKNOWN_OUTCOME";
    expect(instance).toMatchObject(
      unknown
        ? { step: "check", status: "waiting" }
        : { step: "apply", status: "active", lastError: { code: "TRANSPORT_NOT_SENT" } },
    );
    expect(funder.requests()).toEqual([]);
    expect(events).not.toContainEqual(expect.objectContaining({ type: "instance.settled" }));
  });

  test("a funder certificate from an untrusted CA: not sent, retried later, error says what to check", async () => {
    const { events, runLoan } = await engineFor([
      channel("wrongca", { ...alphaTls, ca: ["file:other-ca.pem"] }),
    ]);
    const instance = await runLoan("wrongca", "W1");
    expect(instance).toMatchObject({ step: "apply", status: "active" });
    expect(instance?.nextRunAt).toBeGreaterThan(Date.now());
    expect(instance?.lastError).toMatchObject({
      code: "TRANSPORT_NOT_SENT",
      message: expect.stringContaining("TLS handshake failed (SELF_SIGNED_CERT_IN_CHAIN)"),
    });
    expect(events).toContainEqual(
      expect.objectContaining({ type: "step.failed", willRetry: true }),
    );
    expect(funder.requests()).toEqual([]);
  });

  test("a key that does not match its certificate is a KEY_INVALID naming the reference", async () => {
    const { events, runLoan } = await engineFor([
      channel("mismatch", { ...alphaTls, clientKey: { ref: "file:rogue.key" } }),
    ]);
    const instance = await runLoan("mismatch", "M1");
    expect(instance?.step).toBe("apply");
    expect(instance?.lastError).toMatchObject({
      code: "KEY_INVALID",
      message: expect.stringContaining(
        "channel mismatch: the first certificate of tls.clientCertificate is not the certificate of tls.clientKey (file:alpha.crt)",
      ),
    });
    expect(events).toContainEqual(expect.objectContaining({ code: "KEY_INVALID" }));
    expect(funder.requests()).toEqual([]);
  });

  test("a wrong PKCS#12 password is a KEY_INVALID that shows neither password", async () => {
    const { engine, events, runLoan } = await engineFor([
      channel("badpass", {
        ...betaTls,
        clientKey: { ...betaTls.clientKey!, password: "env:WRONG_P12_PASSWORD" },
      }),
    ]);
    const instance = await runLoan("badpass", "P1");
    expect(instance?.lastError).toMatchObject({
      code: "KEY_INVALID",
      message: expect.stringContaining("cannot read the client key or certificate (file:beta.p12)"),
    });
    const everything = JSON.stringify([events, instance, await engine.history(instance.id)]);
    expect(everything).not.toContain(p12Password);
    expect(everything).not.toContain(wrongPassword);
    expect(funder.requests()).toEqual([]);
  });
});
