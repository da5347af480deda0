import type { UpstreamClientDefinition } from "../definition/client-types.ts";
import type { ProductDefinition } from "../definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";

/**
 * Where the engine reads definitions: a folder of JSON files (`FileDefinitionSource`), memory,
 * or the database (@capflow/store-knex). Behaviors are versioned; an instance stays pinned to the
 * version it started on, so a pinned version never changes and may be cached forever. Channels are
 * not pinned: URLs, limits and keys apply to running instances as soon as they change.
 */
export interface DefinitionSource {
  getChannel(code: string): Promise<LoadedChannel | undefined>;
  /** The active version, or the given one. */
  getBehavior(
    channel: string,
    behavior: string,
    version?: number,
  ): Promise<LoadedBehavior | undefined>;
  listBehaviors(): Promise<BehaviorRef[]>;
  /** Every channel's code, ordered, with or without behaviors. */
  listChannels(): Promise<string[]>;
  /** A product (not versioned: live, like channels; each instance records how it was routed). */
  getProduct(code: string): Promise<ProductDefinition | undefined>;
  /** Every product, ordered by code. */
  listProducts(): Promise<ProductDefinition[]>;
  /** An upstream client of the intake API (live, like channels: a changed key applies at once). */
  getClient(id: string): Promise<LoadedClient | undefined>;
  /** Every upstream client's id, ordered. */
  listClients(): Promise<string[]>;
  /**
   * A value that changes whenever any active definition changes (cheap to call). A source may
   * serve from a cache it refreshes every few seconds; then a push becomes visible, and the
   * revision moves, within that time. (The contract suite runs sources with caching off.)
   */
  revision(): Promise<string>;
}

export interface LoadedChannel {
  definition: ChannelDefinition;
  /** Folder that relative `file:` key references resolve against. */
  baseDir?: string;
}

export interface LoadedClient {
  definition: UpstreamClientDefinition;
  /** Folder that relative `file:` key references resolve against. */
  baseDir?: string;
}

export interface LoadedBehavior {
  definition: BehaviorDefinition;
  version: number;
}

export interface BehaviorRef {
  channel: string;
  behavior: string;
  activeVersion: number;
}
