import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import ExcelJS from "exceljs";
import iconv from "iconv-lite";
import yazl from "yazl";

/** A temporary folder for statement files; `remove()` deletes it. */
export async function statementFolder(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "capflow-statements-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeText(path: string, text: string, encoding = "utf-8"): Promise<string> {
  await writeFile(path, iconv.encode(text, encoding));
  return path;
}

export async function writeGzip(path: string, text: string, encoding = "utf-8"): Promise<string> {
  await writeFile(path, gzipSync(iconv.encode(text, encoding)));
  return path;
}

export async function writeZip(
  path: string,
  entries: Record<string, string>,
  encoding = "utf-8",
): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const [name, text] of Object.entries(entries))
    zip.addBuffer(iconv.encode(text, encoding), name);
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(path)).on("close", resolve).on("error", reject);
  });
  return path;
}

export async function writeXlsx(
  path: string,
  sheets: Record<string, unknown[][]>,
): Promise<string> {
  const workbook = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const sheet = workbook.addWorksheet(name);
    for (const row of rows) sheet.addRow(row);
  }
  await workbook.xlsx.writeFile(path);
  return path;
}
