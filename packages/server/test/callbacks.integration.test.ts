import { request as httpRequest } from "node:http";
import { pushDefinitions } from "@capflow/store-knex";
import iconv from "iconv-lite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ErrorBody } from "../src/index.ts";
import { rawRequest } from "./support/raw-http.ts";
import { shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, startTestServer, type TestServer } from "./support/test-server.ts";

const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8");

describe.skipIf(!databaseUrl)("funder callbacks over HTTP (PostgreSQL)", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      limits: { bodyLimitBytes: 4096, requestTimeoutMs: 600, headersTimeoutMs: 600 },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const post = (path: string, body: Uint8Array | string, contentType = "application/json") =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });

  const inboxCount = async () => {
    const [row] = (await server.db.knex(`${server.db.schema}.inbox`).count("* as n")) as {
      n: string;
    }[];
    return Number(row!.n);
  };

  test("a notification is stored, wakes its instance, which settles; the ack goes back as bytes", async () => {
    const instance = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "O-1",
      input: { mobile: "13800138000" },
    });
    const answer = await post(
      "/callbacks/shop/pay.result",
      json({ orderNo: "O-1", notifyId: "N-1", status: "SUCCESS" }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json; charset=UTF-8");
    expect(await answer.json()).toEqual({ code: "0000", message: "ok" });
    // The same notification again: acknowledged again, stored once.
    const again = await post(
      "/callbacks/shop/pay.result",
      json({ orderNo: "O-1", notifyId: "N-1", status: "SUCCESS" }),
    );
    expect(again.status).toBe(200);
    await server.engine.runDue();
    expect(await server.engine.getInstance(instance.id)).toMatchObject({
      step: "paid",
      status: "succeeded",
    });
  });

  test("a GBK notification is read in GBK and acknowledged in GBK bytes", async () => {
    const instance = await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "O-GBK",
      input: {},
    });
    await server.engine.moveTo(instance.id, "waitGbk", { who: "test", why: "GBK callback" });
    const xml = `<?xml version="1.0" encoding="GBK"?><notify><orderNo>O-GBK</orderNo><notifyId>N-GBK</notifyId><status>SUCCESS</status><memo>支付成功，张三</memo></notify>`;
    const answer = await post(
      "/callbacks/shop/pay.gbk",
      iconv.encode(xml, "gbk"),
      "application/xml; charset=GBK",
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/xml; charset=GBK");
    const ack = Buffer.from(await answer.arrayBuffer());
    expect(iconv.decode(ack, "gbk")).toContain("<message>成功</message>");
    expect(ack.includes(Buffer.from("成功", "utf8"))).toBe(false);
    await server.engine.runDue();
    expect(await server.engine.getInstance(instance.id)).toMatchObject({ status: "succeeded" });
    expect(JSON.stringify(await server.engine.history(instance.id))).toContain("支付成功");
  });

  test("a malformed body is refused with the channel's reject acknowledgement, nothing stored", async () => {
    const before = await inboxCount();
    const answer = await post("/callbacks/shop/pay.result", "{not json");
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ code: "9999", message: "CALLBACK_REJECTED" });
    // UTF-8 bytes announced as such to the GBK callback: refused too.
    const wrongCharset = await post(
      "/callbacks/shop/pay.gbk",
      Buffer.from("<notify><orderNo>x</orderNo></notify>"),
      "application/xml; charset=UTF-8",
    );
    expect(wrongCharset.status).toBe(400);
    expect(await inboxCount()).toBe(before);
  });

  test("any content type, or none, reaches the callback as bytes", async () => {
    const before = await inboxCount();
    for (const contentType of [
      "text/plain",
      "application/octet-stream",
      "application/x-www-form-urlencoded",
    ]) {
      const answer = await post(
        "/callbacks/shop/pay.result",
        json({ orderNo: `O-CT-${contentType}`, notifyId: `N-${contentType}`, status: "FAIL" }),
        contentType,
      );
      expect(answer.status, contentType).toBe(200);
    }
    const empty = await fetch(`${server.url}/callbacks/shop/pay.result`, { method: "POST" });
    expect(empty.status).toBe(400);
    expect(await inboxCount()).toBe(before + 3);
  });

  test("a callback sent with another method than POST gets 405 with Allow: POST; nothing stored", async () => {
    await server.engine.start({
      channel: "shop",
      behavior: "order",
      businessKey: "O-405",
      input: {},
    });
    const before = await inboxCount();
    const genuine = json({ orderNo: "O-405", notifyId: "N-405", status: "SUCCESS" });
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      for (const path of ["/callbacks/shop/pay.result", "/callbacks/shop/pay.result/acct"]) {
        const answer = await fetch(`${server.url}${path}`, {
          method,
          headers: { "content-type": "application/json" },
          body: genuine,
        });
        expect(answer.status, `${method} ${path}`).toBe(405);
        expect(answer.headers.get("allow"), method).toBe("POST");
        expect(((await answer.json()) as ErrorBody).error.code).toBe("REQUEST_METHOD_NOT_ALLOWED");
      }
    }
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      const answer = await fetch(`${server.url}/callbacks/shop/pay.result?orderNo=O-405`, {
        method,
      });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.get("allow"), method).toBe("POST");
    }
    expect(await inboxCount()).toBe(before);
    await server.engine.runDue();
    expect(
      await server.engine.findInstance({
        channel: "shop",
        behavior: "order",
        businessKey: "O-405",
      }),
    ).toMatchObject({ status: "waiting" });
  });

  test("unknown channels and callbacks get 404 with a JSON error", async () => {
    for (const path of [
      "/callbacks/nowhere/pay.result",
      "/callbacks/shop/unknown",
      "/callbacks/shop/constructor",
      "/callbacks/shop",
      "/callbacks/shop/pay.result/acct/extra",
    ]) {
      const answer = await post(path, json({}));
      expect(answer.status, path).toBe(404);
      expect(((await answer.json()) as ErrorBody).error.code, path).toMatch(
        /^(REQUEST_NOT_FOUND|CALLBACK_UNKNOWN|DEFINITION_NOT_FOUND)$/,
      );
    }
  });

  test("an account named after an Object member gets the 404 of an unknown account; nothing stored", async () => {
    // A channel with accounts: its notify URLs name the account whose keys verify them.
    const shopAccounts = {
      ...structuredClone(shopChannel),
      code: "shop-accounts",
      accounts: { "shop-a": { values: { merchantId: "M-A" } } },
    };
    await pushDefinitions(server.db, { channels: [shopAccounts] });
    const notification = (notifyId: string) =>
      json({ orderNo: "O-acct", notifyId, status: "SUCCESS" });
    const before = await inboxCount();
    const unknown = await post("/callbacks/shop-accounts/pay.result/nosuch", notification("N-0"));
    expect(unknown.status).toBe(404);
    const refusal = (await unknown.json()) as ErrorBody;
    expect(refusal.error.code).toBe("DEFINITION_NOT_FOUND");
    for (const [index, account] of [
      "constructor",
      "__proto__",
      "toString",
      "hasOwnProperty",
    ].entries()) {
      const answer = await post(
        `/callbacks/shop-accounts/pay.result/${account}`,
        notification(`N-${index + 1}`),
      );
      expect(answer.status, account).toBe(404);
      expect(((await answer.json()) as ErrorBody).error.code, account).toBe(refusal.error.code);
    }
    expect(await inboxCount()).toBe(before);
    // The account that exists is served at its URL.
    const own = await post("/callbacks/shop-accounts/pay.result/shop-a", notification("N-9"));
    expect(own.status).toBe(200);
    expect(await inboxCount()).toBe(before + 1);
  });

  test("a body over the limit gets a 413 the client reads, announced or streamed; nothing stored", async () => {
    const before = await inboxCount();
    const big = json({ orderNo: "O-BIG", notifyId: "N-BIG", pad: "x".repeat(10_000) });
    const announced = await post("/callbacks/shop/pay.result", big);
    expect(announced.status).toBe(413);
    expect(await announced.json()).toMatchObject({ error: { code: "REQUEST_TOO_LARGE" } });

    // Chunked, no length announced: cut once the limit is crossed, the 413 still arrives.
    const streamed = await new Promise<{ status: number | undefined; body: string }>(
      (resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: server.port,
            method: "POST",
            path: "/callbacks/shop/pay.result",
            headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
          },
          (res) => {
            let body = "";
            res.on("data", (chunk) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode, body }));
          },
        );
        req.on("error", reject);
        let sent = 0;
        const writeMore = () => {
          while (sent < 20 && req.write(Buffer.alloc(1024, 32))) sent++;
          if (sent < 20) req.once("drain", writeMore);
          else req.end();
        };
        writeMore();
      },
    );
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: { code: "REQUEST_TOO_LARGE" } });
    expect(await inboxCount()).toBe(before);
  });

  test("a body that trickles in slower than the request timeout is cut with 408", async () => {
    const before = await inboxCount();
    const body = json({ orderNo: "O-SLOW", notifyId: "N-SLOW", status: "SUCCESS" });
    const head = `POST /callbacks/shop/pay.result HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const parts = [head, ...[...body].map((byte) => Buffer.from([byte]))];
    const answer = await rawRequest(server.port, parts, { pauseMs: 100, waitMs: 8_000 });
    expect(answer.status).toBe(408);
    expect(answer.closed).toBe(true);
    expect(await inboxCount()).toBe(before);
  });

  test("headers that never end are cut too", async () => {
    const answer = await rawRequest(
      server.port,
      ["POST /callbacks/shop/pay.result HTTP/1.1\r\n", "Host: 127.0.0.1\r\n", "X-Slow: 1\r\n"],
      { pauseMs: 400, waitMs: 8_000 },
    );
    expect(answer.closed).toBe(true);
    expect(answer.status === 408 || answer.status === undefined).toBe(true);
  });
});
