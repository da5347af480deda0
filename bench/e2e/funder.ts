/**
 * The loopback funder both pipelines of the end-to-end bench call, run in its own process so its
 * CPU is not counted as the pipelines'. One apply endpoint in two forms:
 *
 * - `POST /sealed/apply`: the body is `{ data, iv, key, sign }`: `data` the JSON request encrypted
 *   with AES-256-CBC under a random key, `key` that key wrapped with RSA-OAEP (SHA-256) for the
 *   funder, `sign` SHA256withRSA over `data=…&iv=…&key=…` by the platform (all base64). The answer
 *   is sealed the same way for the platform.
 * - `POST /plain/apply`: plain JSON both ways.
 *
 * With `--partner latency` each answer waits, after the request is opened and before the answer
 * is sealed, for the latency partner-latency.ts draws for the job's position (the number at the
 * end of its `applyNo`), as a real funder's gateway would; `--partner instant` (the default)
 * answers at once. The crypto work is the same in both.
 *
 * Prints `listening <port>` on stdout once ready. Written with node:http and node:crypto only, the
 * way a funder's test double would be, so its cost is the same for both pipelines.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { e2eKeyFiles } from "./keys.ts";
import { partnerLatencyMs, positionOf } from "./partner-latency.ts";

const funderPrivate = createPrivateKey(readFileSync(e2eKeyFiles.funderPrivate));
const platformPublic = createPublicKey(readFileSync(e2eKeyFiles.platformPublic));
const partnerAt = process.argv.indexOf("--partner");
const withLatency = partnerAt >= 0 && process.argv[partnerAt + 1] === "latency";

/** How long the answer to this request waits: nothing, or the profile's latency for its position. */
function answerDelayMs(request: Record<string, unknown>): number {
  if (!withLatency) return 0;
  const position = positionOf(String(request.applyNo));
  return position === undefined ? 0 : partnerLatencyMs(position);
}

interface Envelope {
  data: string;
  iv: string;
  key: string;
  sign: string;
}

function canonical(envelope: Omit<Envelope, "sign">): string {
  return `data=${envelope.data}&iv=${envelope.iv}&key=${envelope.key}`;
}

function open(envelope: Envelope): unknown {
  const verify = createVerify("RSA-SHA256");
  verify.update(canonical(envelope));
  if (!verify.verify(platformPublic, envelope.sign, "base64")) throw new Error("bad signature");
  const contentKey = privateDecrypt(
    { key: funderPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Buffer.from(envelope.key, "base64"),
  );
  const decipher = createDecipheriv("aes-256-cbc", contentKey, Buffer.from(envelope.iv, "base64"));
  const plain = Buffer.concat([
    decipher.update(Buffer.from(envelope.data, "base64")),
    decipher.final(),
  ]);
  return JSON.parse(plain.toString("utf8"));
}

function seal(message: unknown): Envelope {
  const contentKey = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", contentKey, iv);
  const data = Buffer.concat([
    cipher.update(JSON.stringify(message), "utf8"),
    cipher.final(),
  ]).toString("base64");
  const key = publicEncrypt(
    { key: platformPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    contentKey,
  ).toString("base64");
  const unsigned = { data, iv: iv.toString("base64"), key };
  const sign = createSign("RSA-SHA256");
  sign.update(canonical(unsigned));
  return { ...unsigned, sign: sign.sign(funderPrivate, "base64") };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function answerFor(request: Record<string, unknown>): Record<string, unknown> {
  return {
    respCode: "0000",
    respMsg: "accepted",
    status: "SUCCESS",
    applyNo: request.applyNo,
    bankSerialNo: `B${String(request.applyNo)}`,
  };
}

const server = createServer((request, response) => {
  readBody(request)
    .then(async (text) => {
      const sealed = request.url === "/sealed/apply";
      if (!sealed && request.url !== "/plain/apply") {
        response.writeHead(404).end();
        return;
      }
      const received = JSON.parse(text) as Record<string, unknown>;
      const message = sealed
        ? (open(received as unknown as Envelope) as typeof received)
        : received;
      const delayMs = answerDelayMs(message);
      if (delayMs > 0) await sleep(delayMs);
      const answer = answerFor(message);
      const body = JSON.stringify(sealed ? seal(answer) : answer);
      response.writeHead(200, { "content-type": "application/json" }).end(body);
    })
    .catch((error: unknown) => {
      response
        .writeHead(400, { "content-type": "application/json" })
        .end(JSON.stringify({ respCode: "9999", respMsg: String(error) }));
    });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") process.stdout.write(`listening ${address.port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
