import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { CapflowError } from "@capflow/core";
import yauzl from "yauzl";
import type { StatementDefinition } from "./statement-definition.ts";

/**
 * The statement's own bytes, streamed from a fetched file: unwrapped from gzip, or from the zip
 * entry the definition names (`zipEntry`, a `*`/`?` pattern; else the archive's only file).
 */
export async function openStatementBytes(
  path: string,
  statement: Pick<StatementDefinition, "compression" | "zipEntry">,
): Promise<Readable> {
  const compression = statement.compression ?? "none";
  if (compression === "none") return createReadStream(path, { highWaterMark: 256 * 1024 });
  if (compression === "gzip") {
    const gunzip = createGunzip();
    const file = createReadStream(path, { highWaterMark: 256 * 1024 });
    file.on("error", (error) => gunzip.destroy(error));
    return file.pipe(gunzip).on("error", () => {});
  }
  return openZipEntry(path, statement.zipEntry);
}

function openZipEntry(path: string, pattern: string | undefined): Promise<Readable> {
  const wanted = pattern === undefined ? undefined : globToRegExp(pattern);
  return new Promise((resolve, reject) => {
    const fail = (message: string, cause?: unknown) =>
      reject(
        new CapflowError("STATEMENT_UNREADABLE", message, {
          ...(cause === undefined ? {} : { cause }),
          context: { file: path },
        }),
      );
    yauzl.open(path, { lazyEntries: true, autoClose: false }, (error, zip) => {
      if (error || zip === undefined) {
        fail(
          `the statement is not a readable zip archive (${error?.message ?? "no archive"}); check compression`,
          error,
        );
        return;
      }
      const candidates: yauzl.Entry[] = [];
      zip.on("error", (zipError: Error) =>
        fail(`the zip archive is damaged: ${zipError.message}`, zipError),
      );
      zip.on("entry", (entry: yauzl.Entry) => {
        const isFile = !entry.fileName.endsWith("/");
        const name = entry.fileName.split("/").pop() ?? entry.fileName;
        if (isFile && (wanted === undefined || wanted.test(name) || wanted.test(entry.fileName))) {
          candidates.push(entry);
        }
        zip.readEntry();
      });
      zip.on("end", () => {
        if (candidates.length !== 1) {
          zip.close();

          fail(
            candidates.length === 0
              ? `the zip archive has no file${pattern === undefined ? "" : ` matching ${pattern}`}`
              : `the zip archive has ${candidates.length} files${pattern === undefined ? "" : ` matching ${pattern}`}; name the statement's entry with zipEntry`,
          );
          return;
        }
        zip.openReadStream(candidates[0]!, (streamError, stream) => {
          if (streamError || stream === undefined) {
            zip.close();
            fail(`cannot read ${candidates[0]!.fileName} in the zip archive`, streamError);
            return;
          }
          stream.on("close", () => zip.close());
          resolve(stream);
        });
      });
      zip.readEntry();
    });
  });
}

function globToRegExp(pattern: string): RegExp {
  const source = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`, "i");
}
