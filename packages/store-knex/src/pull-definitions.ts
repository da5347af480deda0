import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ProductDefinition, UpstreamClientDefinition } from "@capflow/core";
import { type BehaviorDefinition, CapflowError, type ChannelDefinition } from "@capflow/core";
import {
  behaviorFileSuffix,
  channelFileSuffix,
  clientFileSuffix,
  productFileSuffix,
} from "@capflow/core/internal";
import type { DatabaseHandle } from "./database-handle.ts";
import { definitionFromRow, type Row } from "./rows.ts";
import { qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface PullResult {
  /** Files written, relative to the folder, with `/` separators. */
  files: string[];
}

/**
 * Writes every channel and the active version of every behavior as definition files, in the
 * layout `loadDefinitions` reads: `<channel>/<channel>.channel.json` and
 * `<channel>/<behavior>.behavior.json`, every product as `products/<product>.product.json` and
 * every upstream client as `clients/<id>.client.json`.
 * Existing files with those names are replaced; other files
 * are left alone. Definitions come back with the key order they were pushed with.
 */
export async function pullDefinitions(db: DatabaseHandle, dir: string): Promise<PullResult> {
  const t = qualifiedNames(db.schema);
  let channels: Row[];
  let behaviors: Row[];
  let products: Row[];
  let clients: Row[];
  try {
    channels = (
      (await db.knex.raw(`SELECT definition FROM ${t.channels} ORDER BY code`)) as {
        rows: Row[];
      }
    ).rows;
    behaviors = (
      (await db.knex.raw(
        `SELECT definition FROM ${t.behaviors} WHERE active ORDER BY channel, code`,
      )) as { rows: Row[] }
    ).rows;
    products = (
      (await db.knex.raw(`SELECT definition FROM ${t.products} ORDER BY code`)) as { rows: Row[] }
    ).rows;
    clients = (
      (await db.knex.raw(`SELECT definition FROM ${t.upstreamClients} ORDER BY id`)) as {
        rows: Row[];
      }
    ).rows;
  } catch (error) {
    throw translateStoreError(error, { target: db.target });
  }
  const files: string[] = [];
  const write = async (folder: string, name: string, definition: unknown) => {
    const file = `${safeSegment(folder)}/${safeSegment(name)}`;
    await mkdir(join(dir, safeSegment(folder)), { recursive: true });
    await writeFile(join(dir, file), `${JSON.stringify(definition, null, 2)}\n`);
    files.push(file);
  };
  for (const row of channels) {
    const channel = definitionFromRow<ChannelDefinition>(row);
    await write(channel.code, `${channel.code}${channelFileSuffix}`, channel);
  }
  for (const row of behaviors) {
    const behavior = definitionFromRow<BehaviorDefinition>(row);
    await write(behavior.channel, `${behavior.code}${behaviorFileSuffix}`, behavior);
  }
  for (const row of products) {
    const product = definitionFromRow<ProductDefinition>(row);
    await write("products", `${product.code}${productFileSuffix}`, product);
  }
  for (const row of clients) {
    const client = definitionFromRow<UpstreamClientDefinition>(row);
    await write("clients", `${client.id}${clientFileSuffix}`, client);
  }
  return { files };
}

/** Codes become path segments: refuse anything that could leave the folder. */
function safeSegment(segment: string): string {
  if (segment === "" || segment === "." || segment === ".." || /[/\\\0]/.test(segment)) {
    throw new CapflowError(
      "DEFINITION_INVALID",
      `a stored definition code (${JSON.stringify(segment)}) is not a safe file name; fix it in the database and push again`,
    );
  }
  return segment;
}
