import { execFile } from "node:child_process";
import { mkdir, open } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fetchStatement,
  openStatementBytes,
  type StatementDefinition,
  type StatementLine,
  StatementReader,
} from "../src/index.ts";
import {
  sshdPath,
  sshdSkipMessage,
  startTestSftpServer,
  type TestSftpServer,
} from "./support/sshd.ts";
import { statementFolder, writeGzip } from "./support/statement-files.ts";

const run = promisify(execFile);

const csv = "outOrderNo,amount\nL001,1500.00\nL002,0.01\n";

const base: StatementDefinition = {
  channel: "lanbank",
  code: "loan-daily",
  behaviors: ["loan"],
  timeZone: "Asia/Shanghai",
  source: { kind: "file", path: "unused" },
  compression: "gzip",
  format: { kind: "delimited" },
  columns: { businessKey: "outOrderNo", amount: "amount" },
};

async function readAll(statement: StatementDefinition, path: string): Promise<StatementLine[]> {
  const reader = new StatementReader(statement, await openStatementBytes(path, statement));
  const lines: StatementLine[] = [];
  for await (const line of reader.lines()) lines.push(line);
  return lines;
}

describe.skipIf(sshdPath === undefined)(
  "statements over SFTP with key authentication (OpenSSH on loopback)",
  () => {
    let server: TestSftpServer;
    beforeAll(async () => {
      server = await startTestSftpServer();
      await mkdir(join(server.root, "out", "20261205"), { recursive: true });
      await writeGzip(join(server.root, "out", "20261205", "loan.csv.gz"), csv);
    });
    afterAll(() => server?.stop());

    const sftp = (overrides: Record<string, unknown> = {}): StatementDefinition => ({
      ...base,
      source: {
        kind: "sftp",
        host: server.host,
        port: server.port,
        username: server.username,
        privateKey: `file:${server.clientKey}`,
        path: `${server.root}/out/{yyyyMMdd}/loan.csv.gz`,
        hostKey: server.hostKeyFingerprint,
        ...overrides,
      } as StatementDefinition["source"],
    });

    it("downloads the business date's file, digests it, and removes the copy on release", async () => {
      const fetched = await fetchStatement(sftp(), "2026-12-05");
      try {
        expect(fetched).toMatchObject({ name: "loan.csv.gz", bytes: gzipSync(csv).length });
        expect(fetched.digest).toMatch(/^[0-9a-f]{64}$/);
        const lines = await readAll(base, fetched.path);
        expect(lines.map((line) => [line.businessKey, line.amountMinor])).toEqual([
          ["L001", 150000n],
          ["L002", 1n],
        ]);
      } finally {
        await fetched.release();
      }
      await expect(readAll(base, fetched.path)).rejects.toBeDefined();
    });

    it("a key the server does not know is refused, and unavailable", async () => {
      await expect(
        fetchStatement(sftp({ privateKey: `file:${server.strangerKey}` }), "2026-12-05"),
      ).rejects.toMatchObject({
        code: "STATEMENT_UNAVAILABLE",
        message: expect.stringContaining(`sftp://${server.username}@127.0.0.1:${server.port}`),
      });
    });

    it("a server showing another host key than the statement names is refused, not retried", async () => {
      await expect(
        fetchStatement(
          sftp({ hostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
          "2026-12-05",
        ),
      ).rejects.toMatchObject({
        code: "STATEMENT_UNAVAILABLE",
        retryable: false,
        message: expect.stringContaining("host key"),
      });
    });

    it("a source without a host key is never connected to", async () => {
      let connected = false;
      const probe = createNetServer((socket) => {
        connected = true;
        socket.destroy();
      });
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      try {
        await expect(
          fetchStatement(
            sftp({ hostKey: undefined, port: (probe.address() as AddressInfo).port }),
            "2026-12-05",
          ),
        ).rejects.toMatchObject({
          code: "STATEMENT_INVALID",
          retryable: false,
          message: expect.stringContaining("ssh-keyscan -p"),
        });
        expect(connected).toBe(false);
      } finally {
        await new Promise((resolve) => probe.close(resolve));
      }
    });

    it("a download that stalls fails within downloadTimeoutMs (retryable); a file over maxBytes is refused", async () => {
      // A named pipe nobody writes to: the server's read waits forever, as a stalled server would.
      const stalled = join(server.root, "out", "20261208");
      await mkdir(stalled, { recursive: true });
      await run("mkfifo", [join(stalled, "loan.csv.gz")]);
      const started = Date.now();
      try {
        await expect(
          fetchStatement(sftp({ downloadTimeoutMs: 800 }), "2026-12-08"),
        ).rejects.toMatchObject({
          code: "STATEMENT_UNAVAILABLE",
          retryable: true,
          message: expect.stringContaining("did not finish within 800 ms"),
        });
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        // Let the server's reader go.
        const writer = await open(join(stalled, "loan.csv.gz"), "r+");
        await writer.close();
      }
      await expect(fetchStatement(sftp({ maxBytes: 16 }), "2026-12-05")).rejects.toMatchObject({
        code: "STATEMENT_UNAVAILABLE",
        message: expect.stringContaining("larger than maxBytes (16)"),
      });
    });

    it("a date whose file is not published yet is unavailable (retryable)", async () => {
      await expect(fetchStatement(sftp(), "2026-12-06")).rejects.toMatchObject({
        code: "STATEMENT_UNAVAILABLE",
        retryable: true,
      });
    });
  },
);

if (sshdPath === undefined) console.warn(sshdSkipMessage);

describe("statements over HTTP", () => {
  let server: Server;
  let origin: string;
  let folder: Awaited<ReturnType<typeof statementFolder>>;
  beforeAll(async () => {
    folder = await statementFolder();
    const body = gzipSync(csv);
    server = createServer((request, response) => {
      if (request.headers.authorization !== "Bearer s3cret") {
        response.writeHead(401).end();
      } else if (request.url === "/statements/20261205/loan.csv.gz") {
        response.writeHead(200, { "content-type": "application/gzip" }).end(body);
      } else if (request.url === "/statements/20261207/loan.csv.gz") {
        response.writeHead(200).end(Buffer.alloc(64 * 1024));
      } else if (request.url === "/statements/20261208/loan.csv.gz") {
        // A byte every 100 ms: never idle long enough for timeoutMs, never done.
        response.writeHead(200);
        const drip = setInterval(() => response.write("x"), 100);
        response.on("close", () => clearInterval(drip));
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.CAPFLOW_TEST_STATEMENT_TOKEN = "Bearer s3cret";
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await folder.remove();
    delete process.env.CAPFLOW_TEST_STATEMENT_TOKEN;
  });

  const http = (
    headers: Record<string, string> = { Authorization: "env:CAPFLOW_TEST_STATEMENT_TOKEN" },
  ): StatementDefinition => ({
    ...base,
    source: {
      kind: "http",
      url: `${origin}/statements/{yyyyMMdd}/loan.csv.gz`,
      headers,
      maxBytes: 32 * 1024,
    },
  });

  it("downloads with a header taken from a secret reference", async () => {
    const fetched = await fetchStatement(http(), "2026-12-05", { workDir: folder.dir });
    try {
      expect(fetched.name).toBe("loan.csv.gz");
      expect((await readAll(base, fetched.path)).map((line) => line.businessKey)).toEqual([
        "L001",
        "L002",
      ]);
    } finally {
      await fetched.release();
    }
  });

  it("refusals, missing files and files over maxBytes are unavailable, saying which", async () => {
    await expect(fetchStatement(http({}), "2026-12-05")).rejects.toMatchObject({
      code: "STATEMENT_UNAVAILABLE",
      message: expect.stringContaining("HTTP 401"),
    });
    await expect(fetchStatement(http(), "2026-12-06")).rejects.toMatchObject({
      message: expect.stringContaining("HTTP 404 (not published yet?)"),
    });
    await expect(fetchStatement(http(), "2026-12-07")).rejects.toMatchObject({
      message: expect.stringContaining("maxBytes"),
    });
  });

  it("a server dripping bytes fails within downloadTimeoutMs, retryable", async () => {
    const dripping: StatementDefinition = {
      ...http(),
      source: { ...(http().source as object), downloadTimeoutMs: 600 } as never,
    };
    const started = Date.now();
    await expect(fetchStatement(dripping, "2026-12-08")).rejects.toMatchObject({
      code: "STATEMENT_UNAVAILABLE",
      retryable: true,
      message: expect.stringContaining("did not finish within 600 ms"),
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
