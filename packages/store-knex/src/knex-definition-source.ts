import type {
  BehaviorDefinition,
  BehaviorRef,
  ChannelDefinition,
  DefinitionSource,
  LoadedBehavior,
  LoadedChannel,
  LoadedClient,
  ProductDefinition,
  UpstreamClientDefinition,
} from "@capflow/core";
import type { Knex } from "knex";
import { readDefinitionRevision } from "./definition-revision.ts";
import { definitionFromRow, type Row } from "./rows.ts";
import { defaultSchema, type QualifiedNames, qualifiedNames } from "./sql-names.ts";
import { translateStoreError } from "./translate-error.ts";

export interface KnexDefinitionSourceOptions {
  /** Default `capflow`. */
  schema?: string;
  /** How messages name the database. */
  target?: string;
  /** Folder that relative `file:` key references in channel definitions resolve against. */
  baseDir?: string;
  /**
   * How long channels and active behaviors are served from memory before `revision()` is asked
   * again. Default 5 000 ms; 0 checks on every lookup. Calling `revision()` yourself (the engine
   * does, each poll) refreshes at once when something changed.
   */
  refreshMs?: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/**
 * The engine's `DefinitionSource` (see `@capflow/core` ports) over the `channels` and `behaviors`
 * tables. Pinned behavior versions never change, so they are cached for the life of the process;
 * channels and active versions are cached until the revision moves.
 */
export class KnexDefinitionSource implements DefinitionSource {
  readonly #knex: Knex;
  readonly #t: QualifiedNames;
  readonly #target: string;
  readonly #baseDir: string | undefined;
  readonly #refreshMs: number;
  readonly #now: () => number;
  readonly #pinned = new Map<string, LoadedBehavior>();
  readonly #active = new Map<string, LoadedBehavior | undefined>();
  readonly #channels = new Map<string, LoadedChannel | undefined>();
  readonly #products = new Map<string, ProductDefinition | undefined>();
  readonly #clients = new Map<string, LoadedClient | undefined>();
  #revision: string | undefined;
  /** Moves with every clearing of the caches: a read that started before must not refill them. */
  #generation = 0;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #checking: Promise<string> | undefined;

  constructor(knex: Knex, options: KnexDefinitionSourceOptions = {}) {
    this.#knex = knex;
    this.#t = qualifiedNames(options.schema ?? defaultSchema);
    this.#target = options.target ?? "the database";
    this.#baseDir = options.baseDir;
    this.#refreshMs = options.refreshMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  async getChannel(code: string): Promise<LoadedChannel | undefined> {
    await this.#refreshIfStale();
    if (this.#channels.has(code)) return this.#channels.get(code);
    const generation = this.#generation;
    const [row] = await this.#rows(`SELECT definition FROM ${this.#t.channels} WHERE code = ?`, [
      code,
    ]);
    const loaded = row && this.#loadedChannel(definitionFromRow<ChannelDefinition>(row));
    if (generation === this.#generation) this.#channels.set(code, loaded);
    return loaded;
  }

  async getBehavior(
    channel: string,
    behavior: string,
    version?: number,
  ): Promise<LoadedBehavior | undefined> {
    if (version !== undefined) {
      const key = `${channel}\u0000${behavior}\u0000${version}`;
      const cached = this.#pinned.get(key);
      if (cached) return cached;
      const [row] = await this.#rows(
        `SELECT definition, version FROM ${this.#t.behaviors}
         WHERE channel = ? AND code = ? AND version = ?`,
        [channel, behavior, version],
      );
      // A miss is not cached: that version may be pushed later.
      if (!row) return undefined;
      return this.#pin(channel, behavior, row);
    }
    await this.#refreshIfStale();
    const key = `${channel}\u0000${behavior}`;
    if (this.#active.has(key)) return this.#active.get(key);
    const generation = this.#generation;
    const [row] = await this.#rows(
      `SELECT definition, version FROM ${this.#t.behaviors}
       WHERE channel = ? AND code = ? AND active`,
      [channel, behavior],
    );
    const loaded = row && this.#pin(channel, behavior, row);
    if (generation === this.#generation) this.#active.set(key, loaded);
    return loaded;
  }

  async listBehaviors(): Promise<BehaviorRef[]> {
    const rows = await this.#rows(
      `SELECT channel, code, version FROM ${this.#t.behaviors} WHERE active ORDER BY channel, code`,
      [],
    );
    return rows.map((row) => ({
      channel: row.channel as string,
      behavior: row.code as string,
      activeVersion: Number(row.version),
    }));
  }

  async listChannels(): Promise<string[]> {
    const rows = await this.#rows(
      `SELECT code FROM ${this.#t.channels} ORDER BY code COLLATE "C"`,
      [],
    );
    return rows.map((row) => row.code as string);
  }

  async listClients(): Promise<string[]> {
    const rows = await this.#rows(
      `SELECT id FROM ${this.#t.upstreamClients} ORDER BY id COLLATE "C"`,
      [],
    );
    return rows.map((row) => row.id as string);
  }

  /** Cached like channels: read on every start of the product, refreshed when the revision moves. */
  async getProduct(code: string): Promise<ProductDefinition | undefined> {
    await this.#refreshIfStale();
    if (this.#products.has(code)) return this.#products.get(code);
    const generation = this.#generation;
    const [row] = await this.#rows(`SELECT definition FROM ${this.#t.products} WHERE code = ?`, [
      code,
    ]);
    const product = row && definitionFromRow<ProductDefinition>(row);
    if (generation === this.#generation) this.#products.set(code, product);
    return product;
  }

  /** Cached like channels: read on every intake request, refreshed when the revision moves. */
  async getClient(id: string): Promise<LoadedClient | undefined> {
    await this.#refreshIfStale();
    if (this.#clients.has(id)) return this.#clients.get(id);
    const generation = this.#generation;
    const [row] = await this.#rows(
      `SELECT definition FROM ${this.#t.upstreamClients} WHERE id = ?`,
      [id],
    );
    const definition = row && definitionFromRow<UpstreamClientDefinition>(row);
    const client =
      definition === undefined
        ? undefined
        : this.#baseDir === undefined
          ? { definition }
          : { definition, baseDir: this.#baseDir };
    if (generation === this.#generation) this.#clients.set(id, client);
    return client;
  }

  async listProducts(): Promise<ProductDefinition[]> {
    const rows = await this.#rows(`SELECT definition FROM ${this.#t.products} ORDER BY code`, []);
    return rows.map((row) => definitionFromRow<ProductDefinition>(row));
  }

  /**
   * Changes whenever a channel or a behavior version is added, changed, activated or removed (see
   * `readDefinitionRevision`). When it moved since the last call, the cached channels and active
   * versions are dropped.
   */
  async revision(): Promise<string> {
    this.#checking ??= this.#readRevision().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #readRevision(): Promise<string> {
    let revision: string;
    try {
      revision = await readDefinitionRevision(this.#knex, this.#t);
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target });
    }
    if (revision !== this.#revision) {
      this.#channels.clear();
      this.#products.clear();
      this.#clients.clear();
      this.#active.clear();
      this.#generation++;
      this.#revision = revision;
    }
    this.#checkedAt = this.#now();
    return revision;
  }

  async #refreshIfStale(): Promise<void> {
    if (this.#now() - this.#checkedAt >= this.#refreshMs) await this.revision();
  }

  #pin(channel: string, behavior: string, row: Row): LoadedBehavior {
    const loaded: LoadedBehavior = {
      definition: definitionFromRow<BehaviorDefinition>(row),
      version: Number(row.version),
    };
    this.#pinned.set(`${channel}\u0000${behavior}\u0000${loaded.version}`, loaded);
    return loaded;
  }

  #loadedChannel(definition: ChannelDefinition): LoadedChannel {
    return this.#baseDir === undefined ? { definition } : { definition, baseDir: this.#baseDir };
  }

  async #rows(sql: string, bindings: readonly Knex.RawBinding[]): Promise<Row[]> {
    try {
      return ((await this.#knex.raw(sql, bindings)) as { rows: Row[] }).rows;
    } catch (cause) {
      throw translateStoreError(cause, { target: this.#target });
    }
  }
}
