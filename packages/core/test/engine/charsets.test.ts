import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import iconv from "iconv-lite";
import { afterEach, describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { callbackRequestListener } from "../../src/engine/callback-listener.ts";
import { RawMessageKeyring } from "../../src/engine/raw-message-keyring.ts";
import { engineHarness } from "../support/harness.ts";
import { testChannel } from "../support/loan-definitions.ts";

const md5Key = "gbk-bank-md5-key";
const gbk = (text: string) => iconv.encode(text, "gbk");

/** MD5 with `&key=` over the sorted fields, computed over the GBK bytes, as a GBK bank signs. */
function signGbk(fields: Record<string, string>): string {
  const canonical = Object.keys(fields)
    .sort()
    .filter((name) => fields[name] !== "")
    .map((name) => `${name}=${fields[name]}`)
    .join("&");
  return createHash("md5")
    .update(gbk(`${canonical}&key=${md5Key}`))
    .digest("hex")
    .toUpperCase();
}

const xmlOf = (fields: Record<string, string>, encoding = "GBK") =>
  `<?xml version="1.0" encoding="${encoding}"?><notify>${Object.entries(fields)
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join("")}</notify>`;

const loanResult = testChannel.callbacks?.["loan.result"];
if (loanResult === undefined) throw new Error("the test channel has a loan.result callback");

/** The test channel whose notifications and acknowledgements are GBK XML signed with MD5. */
const gbkChannel: ChannelDefinition = {
  ...testChannel,
  crypto: {
    handler: "configurable",
    options: {
      keys: { secret: { ref: `inline:${md5Key}` } },
      callback: {
        signature: {
          algorithm: "md5",
          appendKey: "&key=",
          canonical: { kind: "sortedFields" },
          placement: { in: "body", name: "sign" },
        },
      },
    },
  },
  callbacks: {
    "loan.result": {
      ...loanResult,
      format: "xml",
      charset: "GBK",
      extract: { status: "body.status", memo: "body.memo" },
      ack: {
        format: "xml",
        xml: { root: "response" },
        body: { code: "0000", message: "成功" },
        rejectBody: { code: "{{error.code}}", message: "拒绝" },
      },
    },
  },
};

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function listen(h: ReturnType<typeof engineHarness>) {
  const server = createServer(callbackRequestListener(h.engine));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return (body: Uint8Array, contentType: string) =>
    fetch(`http://127.0.0.1:${port}/callbacks/lanbank/loan.result`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
}

describe("charsets end to end", () => {
  test("a GBK notification with Chinese text is verified, applied and acknowledged in GBK", async () => {
    const h = engineHarness({
      channel: gbkChannel,
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-1" } });
    const { id } = await h.startLoan("L-GBK");
    await h.engine.runDue();
    const fields = { loanNo: "L-GBK", notifyId: "N-1", status: "SUCCESS", memo: "放款成功，张三" };
    const post = await listen(h);
    const answer = await post(
      gbk(xmlOf({ ...fields, sign: signGbk(fields) })),
      "application/xml; charset=GBK",
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/xml; charset=GBK");
    const ack = Buffer.from(await answer.arrayBuffer());
    expect(iconv.decode(ack, "gbk")).toBe(
      '<?xml version="1.0" encoding="GBK"?><response><code>0000</code><message>成功</message></response>',
    );
    expect(ack.includes(Buffer.from("成功", "utf8"))).toBe(false);
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    const history = await h.engine.history(id);
    expect(JSON.stringify(history)).toContain("放款成功");
  });

  test("with keepRawBody the inbox keeps the notification's exact GBK bytes, encrypted; without it, none", async () => {
    const rawMessageKeys = new RawMessageKeyring({
      current: "k1",
      keys: { k1: randomBytes(32) },
    });
    for (const keep of [true, false]) {
      const h = engineHarness({
        channel: {
          ...gbkChannel,
          callbacks: {
            "loan.result": { ...gbkChannel.callbacks!["loan.result"]!, keepRawBody: keep },
          },
        },
        engine: { secrets: createDefaultSecretResolver({ allowInline: true }), rawMessageKeys },
      });
      h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-3" } });
      const loanNo = `L-RAW-${keep}`;
      await h.startLoan(loanNo);
      await h.engine.runDue();
      const fields = {
        loanNo,
        notifyId: "N-3",
        status: "SUCCESS",
        memo: "放款成功",
        mobile: "13812345678",
      };
      const bytes = gbk(xmlOf({ ...fields, sign: signGbk(fields) }));
      const ack = await h.engine.receiveCallback("lanbank", "loan.result", {
        method: "POST",
        path: "/callbacks/lanbank/loan.result",
        headers: { "content-type": "application/xml; charset=GBK" },
        body: bytes,
      });
      expect(ack.accepted).toBe(true);
      const [entry] = await h.store.pendingInbox({ channel: "lanbank", businessKey: loanNo });
      expect(JSON.stringify(entry?.payload)).not.toContain("13812345678");
      if (keep) {
        expect(JSON.stringify(entry?.raw)).not.toContain("13812345678");
        const raw = rawMessageKeys.open(entry!.raw!, "inbox");
        expect(Buffer.from(raw.bytes ?? "", "base64").equals(bytes)).toBe(true);
        expect(raw.body).toContain("<mobile>13812345678</mobile>");
        expect(raw.body).toContain("放款成功");
      } else {
        expect(entry).not.toHaveProperty("raw");
      }
    }
  });

  test("a UTF-8 body sent to the GBK callback is refused with a typed error and nothing is stored", async () => {
    const h = engineHarness({
      channel: gbkChannel,
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-2" } });
    const { id } = await h.startLoan("L-UTF8");
    await h.engine.runDue();
    const fields = { loanNo: "L-UTF8", notifyId: "N-2", status: "SUCCESS", memo: "放款成功" };
    const utf8 = Buffer.from(xmlOf({ ...fields, sign: signGbk(fields) }, "UTF-8"), "utf8");
    for (const contentType of ["application/xml; charset=UTF-8", "application/xml"]) {
      const refused = await h.engine.receiveCallback("lanbank", "loan.result", {
        method: "POST",
        path: "/callbacks/lanbank/loan.result",
        headers: { "content-type": contentType },
        body: utf8,
      });
      expect(refused).toMatchObject({
        accepted: false,
        status: 400,
        error: { code: "CHARSET_DECODE_FAILED" },
      });
      expect(iconv.decode(Buffer.from(refused.bytes), "gbk")).toContain("拒绝");
    }
    expect(h.events.filter((e) => e.type === "callback.received")).toHaveLength(0);
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });
  });

  test("a GBK answer is decoded in the interface's charset; one announcing UTF-8 is refused", async () => {
    const channel: ChannelDefinition = { ...testChannel, charset: "GBK" };
    const h = engineHarness({ channel });
    const answer = gbk(JSON.stringify({ status: "ACCEPTED", applyNo: "受理-1" }));
    h.transport.script("/loan/apply", {
      bytes: answer,
      headers: { "content-type": "application/json" },
    });
    const { id } = await h.startLoan("L-GBK-ANSWER");
    await h.engine.runDue();
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "wait",
      context: { apply: { applyNo: "受理-1" } },
    });
    expect(h.transport.requests[0]?.headers["content-type"]).toBe("application/json; charset=GBK");

    const h2 = engineHarness({ channel });
    h2.transport.script("/loan/apply", {
      bytes: Buffer.from(JSON.stringify({ status: "ACCEPTED", applyNo: "受理-2" }), "utf8"),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    const second = await h2.startLoan("L-UTF8-ANSWER");
    await h2.engine.runDue();
    // An answer that cannot be read is invalid: the apply step goes to its query, never resends.
    expect(await h2.engine.getInstance(second.id)).toMatchObject({ step: "query" });
    const call = (await h2.engine.history(second.id)).find((entry) => entry.event === "call");
    expect(call?.error).toMatchObject({ code: "CHARSET_DECODE_FAILED" });
  });
});
