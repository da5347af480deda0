import type { UpstreamClientDefinition } from "../definition/client-types.ts";
import type { ProductDefinition } from "../definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type {
  BehaviorRef,
  DefinitionSource,
  LoadedBehavior,
  LoadedChannel,
  LoadedClient,
} from "../ports/definition-source.ts";

/**
 * Definitions held in memory. `putBehavior` adds a new version when the definition changed, the
 * same rule the database source follows; earlier versions stay readable for pinned instances.
 */
export class MemoryDefinitionSource implements DefinitionSource {
  readonly #channels = new Map<string, LoadedChannel>();
  readonly #behaviors = new Map<string, { versions: BehaviorDefinition[]; texts: string[] }>();
  readonly #products = new Map<string, { definition: ProductDefinition; text: string }>();
  readonly #clients = new Map<string, { loaded: LoadedClient; text: string }>();
  #revision = 0;

  constructor(
    init: {
      channels?: ChannelDefinition[];
      behaviors?: BehaviorDefinition[];
      products?: ProductDefinition[];
      clients?: UpstreamClientDefinition[];
      baseDir?: string;
    } = {},
  ) {
    for (const channel of init.channels ?? []) this.putChannel(channel, init.baseDir);
    for (const behavior of init.behaviors ?? []) this.putBehavior(behavior);
    for (const product of init.products ?? []) this.putProduct(product);
    for (const client of init.clients ?? []) this.putClient(client, init.baseDir);
  }

  putClient(definition: UpstreamClientDefinition, baseDir?: string): void {
    const text = `${baseDir ?? ""}\u0000${JSON.stringify(definition)}`;
    if (this.#clients.get(definition.id)?.text === text) return;
    const copy = structuredClone(definition);
    const loaded = baseDir === undefined ? { definition: copy } : { definition: copy, baseDir };
    this.#clients.set(definition.id, { loaded, text });
    this.#revision++;
  }

  async getClient(id: string): Promise<LoadedClient | undefined> {
    return this.#clients.get(id)?.loaded;
  }

  async listClients(): Promise<string[]> {
    return [...this.#clients.keys()].sort(byCodeUnits);
  }

  putProduct(definition: ProductDefinition): void {
    const text = JSON.stringify(definition);
    if (this.#products.get(definition.code)?.text === text) return;
    this.#products.set(definition.code, { definition: structuredClone(definition), text });
    this.#revision++;
  }

  async getProduct(code: string): Promise<ProductDefinition | undefined> {
    return this.#products.get(code)?.definition;
  }

  async listProducts(): Promise<ProductDefinition[]> {
    return [...this.#products.values()]
      .map((entry) => entry.definition)
      .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }

  putChannel(definition: ChannelDefinition, baseDir?: string): void {
    const existing = this.#channels.get(definition.code);
    if (
      existing &&
      existing.baseDir === baseDir &&
      JSON.stringify(existing.definition) === JSON.stringify(definition)
    ) {
      return;
    }
    this.#channels.set(
      definition.code,
      baseDir === undefined
        ? { definition: structuredClone(definition) }
        : { definition: structuredClone(definition), baseDir },
    );
    this.#revision++;
  }

  /** Returns the version number the definition is stored under. */
  putBehavior(definition: BehaviorDefinition): number {
    const key = `${definition.channel}/${definition.code}`;
    const entry = this.#behaviors.get(key) ?? { versions: [], texts: [] };
    this.#behaviors.set(key, entry);
    const text = JSON.stringify(definition);
    if (entry.texts.at(-1) === text) return entry.versions.length;
    entry.versions.push(structuredClone(definition));
    entry.texts.push(text);
    this.#revision++;
    return entry.versions.length;
  }

  async getChannel(code: string): Promise<LoadedChannel | undefined> {
    return this.#channels.get(code);
  }

  async listChannels(): Promise<string[]> {
    return [...this.#channels.keys()].sort(byCodeUnits);
  }

  async getBehavior(
    channel: string,
    behavior: string,
    version?: number,
  ): Promise<LoadedBehavior | undefined> {
    const entry = this.#behaviors.get(`${channel}/${behavior}`);
    if (!entry) return undefined;
    const index = (version ?? entry.versions.length) - 1;
    const definition = entry.versions[index];
    return definition && { definition, version: index + 1 };
  }

  async listBehaviors(): Promise<BehaviorRef[]> {
    return [...this.#behaviors.entries()].map(([key, entry]) => {
      const [channel = "", behavior = ""] = key.split("/");
      return { channel, behavior, activeVersion: entry.versions.length };
    });
  }

  async revision(): Promise<string> {
    return String(this.#revision);
  }
}

/** Ordered as the database orders them (`COLLATE "C"`): by UTF-16 code units. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
