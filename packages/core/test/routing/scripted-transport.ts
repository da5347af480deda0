import type { Transport, TransportRequest, TransportResponse } from "../../src/ports/transport.ts";

/** Answers each request with what `answer` says for its path: a JSON body, or a thrown failure. */
export class ScriptedTransport implements Transport {
  readonly sent: { channel: string; path: string; body: string }[] = [];
  constructor(private readonly answer: (request: TransportRequest, path: string) => unknown) {}

  async send(request: TransportRequest): Promise<TransportResponse> {
    const url = new URL(request.url);
    const text =
      typeof request.body === "string"
        ? request.body
        : Buffer.from(request.body ?? new Uint8Array()).toString("utf8");
    this.sent.push({ channel: url.hostname, path: url.pathname, body: text });
    const body = this.answer(request, url.pathname);
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify(body)),
      durationMs: 1,
    };
  }

  async close(): Promise<void> {}
}
