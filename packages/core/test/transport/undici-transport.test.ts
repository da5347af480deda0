import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { isCapflowError } from "../../src/errors.ts";
import { classifyTransportError, UndiciTransport } from "../../src/transport/undici-transport.ts";

const servers: Server[] = [];
let transport: UndiciTransport;

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await transport?.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function post(url: string, timeoutMs = 2_000) {
  return transport.send({
    url: `${url}/loan/apply?sign=abc`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"amount":100}',
    timeoutMs,
    connectTimeoutMs: 1_000,
  });
}

describe("UndiciTransport", () => {
  test("returns any HTTP answer with lower-case headers, including 5xx", async () => {
    transport = new UndiciTransport();
    const url = await serve((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        res.writeHead(req.url === "/loan/apply?sign=abc" ? 200 : 404, { "X-Trace": "t1" });
        res.end(`echo:${body}`);
      });
    });
    const answer = await post(url);
    expect(answer.status).toBe(200);
    expect(answer.headers["x-trace"]).toBe("t1");
    expect(Buffer.from(answer.body).toString("utf8")).toBe('echo:{"amount":100}');

    const failing = await serve((_req, res) => {
      res.writeHead(503);
      res.end("busy");
    });
    expect((await post(failing)).status).toBe(503);
  });

  test("connection refused is NOT_SENT and retryable", async () => {
    transport = new UndiciTransport();
    const url = await serve(() => {});
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve));
    const error = await post(url).catch((e: unknown) => e);
    expect(isCapflowError(error, "TRANSPORT_NOT_SENT")).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
  });

  test("a response timeout after the partner received the request is UNKNOWN_OUTCOME, sent once", async () => {
    transport = new UndiciTransport();
    let received = 0;
    const url = await serve(() => {
      received++;
    });
    const error = await post(url, 200).catch((e: unknown) => e);
    expect(isCapflowError(error, "TRANSPORT_UNKNOWN_OUTCOME")).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(false);
    expect((error as Error).message).not.toContain("sign=abc");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toBe(1);
  });

  test("a connection reset after the request arrived is UNKNOWN_OUTCOME and is not resent", async () => {
    transport = new UndiciTransport();
    let received = 0;
    const url = await serve((req) => {
      received++;
      req.socket.destroy();
    });
    const error = await post(url).catch((e: unknown) => e);
    expect(isCapflowError(error, "TRANSPORT_UNKNOWN_OUTCOME")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toBe(1);
  });
});

describe("classifyTransportError on TLS failures", () => {
  const request = {
    url: "https://bank.example.test/loan/apply?sign=abc",
    method: "POST" as const,
    headers: {},
    timeoutMs: 1_000,
    connectTimeoutMs: 1_000,
  };
  const failure = (code: string, message = "tls failure") =>
    classifyTransportError(Object.assign(new Error(message), { code }), request);

  test.each([
    "CERT_HAS_EXPIRED",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
    "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
  ])("%s fails the handshake: not sent, retryable, pointing at the tls settings", (code) => {
    const error = failure(code);
    expect(error).toMatchObject({ code: "TRANSPORT_NOT_SENT", retryable: true });
    expect(error.message).toBe(
      `POST https://bank.example.test/loan/apply?… was not sent: the TLS handshake failed (${code}). Check the channel's tls settings (client certificate and key, ca, serverName) against the funder's certificate`,
    );
  });

  test("a reset before the handshake completed is not sent; any other reset is unknown", () => {
    expect(
      failure(
        "ECONNRESET",
        "Client network socket disconnected before secure TLS connection was established",
      ).code,
    ).toBe("TRANSPORT_NOT_SENT");
    expect(failure("ECONNRESET", "read ECONNRESET").code).toBe("TRANSPORT_UNKNOWN_OUTCOME");
    expect(failure("ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC").code).toBe(
      "TRANSPORT_UNKNOWN_OUTCOME",
    );
  });

  test("an unreachable host is 'not sent' while connecting, unknown on a connection in use", () => {
    const unreachable = (code: string, syscall: string) =>
      classifyTransportError(
        Object.assign(new Error(`${syscall} ${code}`), { code, syscall }),
        request,
      ).code;
    expect(unreachable("EHOSTUNREACH", "connect")).toBe("TRANSPORT_NOT_SENT");
    expect(unreachable("ENETUNREACH", "connect")).toBe("TRANSPORT_NOT_SENT");
    expect(unreachable("EHOSTUNREACH", "read")).toBe("TRANSPORT_UNKNOWN_OUTCOME");
    expect(unreachable("ENETUNREACH", "write")).toBe("TRANSPORT_UNKNOWN_OUTCOME");
    expect(unreachable("ECONNREFUSED", "connect")).toBe("TRANSPORT_NOT_SENT");
  });
});
