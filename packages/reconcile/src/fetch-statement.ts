import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, resolve } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CapflowError,
  createDefaultSecretResolver,
  Redacted,
  type SecretResolver,
} from "@capflow/core";
import { DateTime } from "luxon";
import SftpClient from "ssh2-sftp-client";
import { request } from "undici";
import { fetchThroughInterface, type StatementInterfaceCaller } from "./fetch-through-interface.ts";
import type { StatementDefinition } from "./statement-definition.ts";

/** A statement file on local disk, ready to read; `release()` removes a downloaded copy. */
export interface FetchedStatement {
  path: string;
  /** The file's name where it came from (for runs and messages). */
  name: string;
  bytes: number;
  /** SHA-256 of the file as fetched (before decompression), hex. */
  digest: string;
  release(): Promise<void>;
}

export interface FetchStatementOptions {
  /** Relative `file` paths and `file:` secret references resolve against it (the definitions folder). */
  baseDir?: string;
  /** Resolves the SFTP key and passphrase and HTTP header values. Default: `env:` and `file:`. */
  secrets?: SecretResolver;
  /** Where downloads go. Default the system's temporary folder. */
  workDir?: string;
  /** For statements that come through a channel's interface: the engine that calls it. */
  engine?: StatementInterfaceCaller;
}

/** `{yyyyMMdd}`, `{yyyy-MM-dd}` (any luxon format in braces) -> the business date. */
export function expandDatePattern(
  template: string,
  businessDate: string,
  timeZone: string,
): string {
  const date = DateTime.fromISO(businessDate, { zone: timeZone });
  return template.replace(/\{([^{}]+)\}/g, (_, format: string) => date.toFormat(format));
}

/**
 * Brings the statement of a business date to local disk: a local path as it is, an HTTP
 * download or an SFTP file into a temporary folder. A source that cannot be reached, or has no
 * file yet, is `STATEMENT_UNAVAILABLE` (retryable: funders publish late).
 */
export async function fetchStatement(
  statement: StatementDefinition,
  businessDate: string,
  options: FetchStatementOptions = {},
): Promise<FetchedStatement> {
  const source = statement.source;
  const secrets = options.secrets ?? createDefaultSecretResolver();
  const secretOptions = options.baseDir === undefined ? {} : { baseDir: options.baseDir };
  const context = { channel: statement.channel, statement: statement.code };
  if (source.kind === "file") {
    const expanded = expandDatePattern(source.path, businessDate, statement.timeZone);
    const path = isAbsolute(expanded) ? expanded : resolve(options.baseDir ?? ".", expanded);
    return localFile(path, context);
  }
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), "capflow-statement-"));
  const release = () => rm(dir, { recursive: true, force: true });
  try {
    if (source.kind === "interface") {
      const { path, name } = await fetchThroughInterface(statement, source, businessDate, {
        engine: options.engine,
        dir,
        expand: (template) => expandDatePattern(template, businessDate, statement.timeZone),
        download: (url, target) =>
          download(
            url,
            target,
            {},
            60_000,
            defaultDownloadTimeoutMs,
            "url" in source.file ? (source.file.maxBytes ?? 2 ** 31) : 2 ** 31,
            context,
          ),
        context,
      });
      return { ...(await localFile(path, context)), name, release };
    }
    if (source.kind === "http") {
      const url = expandDatePattern(source.url, businessDate, statement.timeZone);
      const name = basename(new URL(url).pathname) || "statement";
      const path = join(dir, name);
      const headers: Record<string, string> = {};
      for (const [header, value] of Object.entries(source.headers ?? {})) {
        headers[header] = /^(env|file):/.test(value)
          ? Redacted.reveal(await secrets.resolve(value, secretOptions))
              .toString("utf8")
              .trim()
          : value;
      }
      await download(
        url,
        path,
        headers,
        source.timeoutMs ?? 60_000,
        source.downloadTimeoutMs ?? defaultDownloadTimeoutMs,
        source.maxBytes ?? 2 ** 31,
        context,
      );
      return { ...(await localFile(path, context)), name, release };
    }
    if (source.hostKey === undefined) {
      throw new CapflowError(
        "STATEMENT_INVALID",
        `the SFTP source of ${statement.channel}/${statement.code} has no hostKey: a statement is never fetched from a server whose key is not pinned; add the fingerprint \`ssh-keyscan -p ${source.port ?? 22} ${source.host} | ssh-keygen -lf -\` prints (SHA256:…), checked with the funder`,
        { context, retryable: false },
      );
    }
    const remote = expandDatePattern(source.path, businessDate, statement.timeZone);
    const name = basename(remote);
    const path = join(dir, name || "statement");
    const privateKey = Redacted.reveal(await secrets.resolve(source.privateKey, secretOptions));
    const passphrase =
      source.passphrase === undefined
        ? undefined
        : Redacted.reveal(await secrets.resolve(source.passphrase, secretOptions))
            .toString("utf8")
            .trim();
    await sftpDownload(
      {
        host: source.host,
        port: source.port ?? 22,
        username: source.username,
        privateKey,
        ...(passphrase === undefined ? {} : { passphrase }),
        hostKey: source.hostKey,
        timeoutMs: source.timeoutMs ?? 30_000,
        downloadTimeoutMs: source.downloadTimeoutMs ?? defaultDownloadTimeoutMs,
        maxBytes: source.maxBytes ?? 2 ** 31,
      },
      remote,
      path,
      context,
    );
    return { ...(await localFile(path, context)), name, release };
  } catch (error) {
    await release();
    throw error;
  }
}

async function localFile(
  path: string,
  context: Record<string, unknown>,
): Promise<FetchedStatement> {
  let bytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error("not a file");
    bytes = info.size;
  } catch (error) {
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `no statement file at ${path} (yet); check the path, or run again once the funder has published it`,
      { cause: error, context: { ...context, file: path } },
    );
  }
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return { path, name: basename(path), bytes, digest: hash.digest("hex"), release: async () => {} };
}

/** The whole of a download, from asking to the last byte. */
const defaultDownloadTimeoutMs = 15 * 60_000;

/**
 * Downloads `url` to `path`. `timeoutMs` bounds the wait for the answer and between two chunks;
 * `downloadTimeoutMs` the whole download, so a server dripping bytes cannot hold the caller.
 */
async function download(
  url: string,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
  downloadTimeoutMs: number,
  maxBytes: number,
  context: Record<string, unknown>,
): Promise<void> {
  const where = new URL(url);
  const shown = `${where.origin}${where.pathname}`;
  const signal = AbortSignal.timeout(downloadTimeoutMs);
  const reason = (error: unknown) =>
    signal.aborted
      ? `it did not finish within ${downloadTimeoutMs} ms (downloadTimeoutMs)`
      : (error as Error).message;
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, {
      method: "GET",
      headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      maxRedirections: 0,
      signal,
    } as Parameters<typeof request>[1]);
  } catch (error) {
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `cannot download the statement from ${shown}: ${reason(error)}`,
      {
        cause: error,
        context,
      },
    );
  }
  if (response.statusCode !== 200) {
    await response.body.dump().catch(() => {});
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `the statement download from ${shown} answered HTTP ${response.statusCode}${response.statusCode === 404 ? " (not published yet?)" : ""}`,
      { context: { ...context, status: response.statusCode } },
    );
  }
  let received = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > maxBytes) callback(new Error(`larger than maxBytes (${maxBytes})`));
      else callback(null, chunk);
    },
  });
  try {
    await pipeline(response.body, limit, createWriteStream(path));
  } catch (error) {
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `the statement download from ${shown} broke off: ${reason(error)}`,
      {
        cause: error,
        context,
      },
    );
  }
}

interface SftpSettings {
  host: string;
  port: number;
  username: string;
  privateKey: Buffer;
  passphrase?: string;
  hostKey: string;
  /** Connecting (the handshake). */
  timeoutMs: number;
  /** The whole download, from opening the file to its last byte. */
  downloadTimeoutMs: number;
  maxBytes: number;
}

/** Keepalives on the SSH connection: a peer silent for three of them is dropped. */
const keepaliveIntervalMs = 15_000;

async function sftpDownload(
  settings: SftpSettings,
  remote: string,
  path: string,
  context: Record<string, unknown>,
): Promise<void> {
  const client = new SftpClient("capflow-statement");
  const where = `sftp://${settings.username}@${settings.host}:${settings.port}${remote}`;
  let hostKeyRefused = false;
  try {
    await client.connect({
      host: settings.host,
      port: settings.port,
      username: settings.username,
      privateKey: settings.privateKey,
      ...(settings.passphrase === undefined ? {} : { passphrase: settings.passphrase }),
      readyTimeout: settings.timeoutMs,
      keepaliveInterval: keepaliveIntervalMs,
      keepaliveCountMax: 3,
      retries: 0,
      hostVerifier: (key: Buffer) => {
        const fingerprint = `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
        hostKeyRefused = fingerprint !== settings.hostKey;
        return !hostKeyRefused;
      },
    });
  } catch (error) {
    await client.end().catch(() => {});
    if (hostKeyRefused) {
      throw new CapflowError(
        "STATEMENT_UNAVAILABLE",
        `the SFTP server at ${settings.host}:${settings.port} did not show the host key the statement names (${settings.hostKey}); check source.hostKey with the funder before connecting again`,
        { cause: error, context, retryable: false },
      );
    }
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `cannot open ${where}: ${(error as Error).message}`,
      {
        cause: error,
        context,
      },
    );
  }
  // A stalled server must not hold the caller (the schedule holds its turn while it waits):
  // the whole download has a deadline, after which the connection is dropped, not closed politely.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CapflowError(
            "STATEMENT_UNAVAILABLE",
            `the download of ${where} did not finish within ${settings.downloadTimeoutMs} ms (source.downloadTimeoutMs); it is tried again later`,
            { context },
          ),
        ),
      settings.downloadTimeoutMs,
    );
  });
  try {
    await Promise.race([deadline, sftpCopy(client, remote, path, settings.maxBytes)]);
    clearTimeout(timer);
    await client.end().catch(() => {});
  } catch (error) {
    clearTimeout(timer);
    const connection = (client as unknown as { client?: { destroy(): void } }).client;
    connection?.destroy();
    await Promise.race([
      client.end().catch(() => {}),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
    if (error instanceof CapflowError) throw error;
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `cannot download ${where}: ${(error as Error).message}; run again once the funder has published it`,
      { cause: error, context },
    );
  }
}

/** Copies a remote file to `path`, refusing one larger than `maxBytes` before and while reading. */
async function sftpCopy(
  client: SftpClient,
  remote: string,
  path: string,
  maxBytes: number,
): Promise<void> {
  const info = await client.stat(remote);
  if (info.size > maxBytes)
    throw new Error(`${info.size} bytes, larger than maxBytes (${maxBytes})`);
  let received = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > maxBytes) callback(new Error(`larger than maxBytes (${maxBytes})`));
      else callback(null, chunk);
    },
  });
  await pipeline(client.createReadStream(remote), limit, createWriteStream(path));
}
