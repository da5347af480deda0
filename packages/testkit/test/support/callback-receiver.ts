import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Codec, CryptoHandler } from "@capflow/core";
import { funderSecret } from "./engine-client.ts";
import { hmacHandler } from "./hmac-handler.ts";
import { jsonCodec } from "./json-codec.ts";

/** How the fake engine answers the n-th callback it receives (1-based). */
export type ReceiverAnswer = "acknowledge" | "fail" | "reset" | "unsigned";

/**
 * Plays the engine's callback endpoint: opens each callback with the channel's handler, records
 * it, and acknowledges with a sealed `{ code: "SUCCESS" }` (or fails, as told).
 */
export async function startCallbackReceiver(
  answer: (n: number) => ReceiverAnswer = () => "acknowledge",
  handler: CryptoHandler = hmacHandler(funderSecret),
  codec: Codec = jsonCodec,
): Promise<{
  url: string;
  received: { body: unknown; at: number; path: string }[];
  close: () => Promise<void>;
}> {
  const received: { body: unknown; at: number; path: string }[] = [];
  let n = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      n += 1;
      const how = answer(n);
      if (how === "reset") {
        request.socket.resetAndDestroy();
        return;
      }
      const wire = {
        method: "POST" as const,
        path: new URL(request.url ?? "/", "http://x").pathname,
        headers: request.headers as Record<string, string>,
        query: {},
        body: Buffer.concat(chunks).toString("utf8"),
      };
      try {
        const opened = await handler.openRequest(wire, codec);
        received.push({ body: opened.body, at: Date.now(), path: wire.path });
        if (how === "fail") {
          response.writeHead(500).end("busy");
          return;
        }
        if (how === "unsigned") {
          response.writeHead(200, { "content-type": "application/json" }).end('{"code":"SUCCESS"}');
          return;
        }
        const ack = await handler.sealResponse(
          { status: 200, headers: {}, body: { code: "SUCCESS" }, codec },
          opened,
        );
        response.writeHead(ack.status, ack.headers).end(ack.body);
      } catch {
        response.writeHead(400).end("bad signature");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callbacks/demo`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
