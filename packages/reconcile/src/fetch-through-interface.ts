import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CapflowError, type InterfaceAnswer, type InterfaceCall } from "@capflow/core";
import iconv from "iconv-lite";
import type { StatementDefinition, StatementSource } from "./statement-definition.ts";

/** What fetching through a channel's interface needs: the engine (`Engine.callInterface`). */
export interface StatementInterfaceCaller {
  callInterface(call: InterfaceCall): Promise<InterfaceAnswer>;
}

type InterfaceSource = Extract<StatementSource, { kind: "interface" }>;

/**
 * Asks the channel's own interface for the statement (its crypto, flow control and transport,
 * like any call of the engine) and takes the file from the answer: base64 in a field, the
 * answer's text, or a URL to download. Any answer but `succeeded` is the file not being there yet.
 */
export async function fetchThroughInterface(
  statement: StatementDefinition,
  source: InterfaceSource,
  businessDate: string,
  parts: {
    engine: StatementInterfaceCaller | undefined;
    dir: string;
    expand: (template: string) => string;
    download: (url: string, path: string) => Promise<void>;
    context: Record<string, unknown>;
  },
): Promise<{ path: string; name: string }> {
  const { engine, context } = parts;
  const where = `${statement.channel} ${source.interface}`;
  if (engine === undefined) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `statement ${statement.channel}/${statement.code} comes through the channel's interface ${source.interface}: it needs the engine (in code, pass \`engine\`; the CLI reads the channels pushed to the database)`,
      { context },
    );
  }
  const params = Object.fromEntries(
    Object.entries(source.params ?? {}).map(([name, value]) => [name, parts.expand(value)]),
  );
  const input = { businessDate, ...params };
  const answer = await engine.callInterface({
    channel: statement.channel,
    interface: source.interface,
    request: source.request ?? { format: "json", body: params },
    response: {
      ...(source.responseFormat === undefined ? {} : { format: source.responseFormat }),
      extract: { file: fileExpression(source.file) },
    },
    input,
    purpose: `statement:${statement.channel}/${statement.code}:${businessDate}`,
  });
  if (answer.outcome !== "succeeded") {
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `${where} answered ${answer.outcome} (code ${answer.code || "none"}${answer.description === undefined ? "" : `: ${answer.description}`}): the statement of ${businessDate} is not there yet`,
      { context: { ...context, partnerCode: answer.code } },
    );
  }
  const value = answer.fields.file;
  if (typeof value !== "string" || value === "") {
    throw new CapflowError(
      "STATEMENT_UNAVAILABLE",
      `${where} answered without the file (${fileExpression(source.file)} is ${value === undefined ? "missing" : "empty or not text"})`,
      { context },
    );
  }
  const name =
    source.name === undefined ? `${source.interface}-${businessDate}` : parts.expand(source.name);
  const path = join(parts.dir, name);
  if ("url" in source.file) {
    await parts.download(value, path);
  } else if ("base64" in source.file) {
    // Strict: a field that is not base64 is a wrong path or a changed interface, never a file.
    const compact = value.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      throw new CapflowError(
        "STATEMENT_UNREADABLE",
        `${where} answered a file field that is not base64 (${source.file.base64})`,
        { context },
      );
    }
    await writeFile(path, Buffer.from(compact, "base64"));
  } else {
    await writeFile(path, iconv.encode(value, statement.encoding ?? "UTF-8"));
  }
  return { path, name };
}

function fileExpression(file: InterfaceSource["file"]): string {
  return "base64" in file ? file.base64 : "url" in file ? file.url : file.text;
}
