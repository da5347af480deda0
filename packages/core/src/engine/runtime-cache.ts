import type { CryptoHandler } from "../crypto/handler.ts";
import type { CryptoHandlerRegistry } from "../crypto/handler-registry.ts";
import { withPreviousKeys } from "../crypto/overlapping-handler.ts";
import { accountCrypto } from "../definition/account-definition.ts";
import { channelAt } from "../definition/future-values.ts";
import { ownEntry } from "../definition/own-entry.ts";
import type { ProductDefinition } from "../definition/product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import type { TransportTls } from "../ports/transport.ts";
import { loadChannelTls } from "../transport/channel-tls.ts";
import { BehaviorMachine } from "./behavior-machine.ts";

export interface ChannelRuntime {
  /** The values in effect now (future values that took effect applied; no `future`). */
  definition: ChannelDefinition;
  /** The account these keys and values belong to; undefined for the channel's own. */
  account?: string;
  /** What templates read as `{{account.<name>}}`. */
  accountValues?: Record<string, string>;
  handler: CryptoHandler;
  tls?: TransportTls;
}

export interface BehaviorRuntime {
  definition: BehaviorDefinition;
  version: number;
  machine: BehaviorMachine;
}

/**
 * Definitions as the engine runs them: behaviors compiled to machines per pinned version (never
 * change, cached for good) and channels with their crypto handler (keys loaded once). Channels and
 * active versions are re-read when the source's revision changes, checked at most once per
 * `refreshMs`, so an operator's push applies without restart.
 */
export class RuntimeCache {
  readonly #behaviors = new Map<string, Promise<BehaviorRuntime>>();
  readonly #active = new Map<string, Promise<BehaviorRuntime>>();
  readonly #channels = new Map<string, { runtime: Promise<ChannelRuntime>; until: number }>();
  readonly #products = new Map<string, Promise<ProductDefinition>>();
  #productList: Promise<ProductDefinition[]> | undefined;
  #revision: string | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly source: DefinitionSource,
    private readonly cryptoHandlers: CryptoHandlerRegistry,
    private readonly secrets: SecretResolver,
    private readonly clock: Clock,
    private readonly refreshMs = 1_000,
    private readonly cryptoThreadPool = true,
  ) {}

  /**
   * The channel as it is now, with the keys of `account` (its own when undefined or null): its
   * future values that took effect applied, its keys loaded. At the instant the next ones take
   * effect (on this clock) the channel is loaded again, on every node at once and without a push.
   */
  async channel(code: string, account?: string | null): Promise<ChannelRuntime> {
    await this.#refresh();
    const key = account == null ? code : `${code}#${account}`;
    const cached = this.#channels.get(key);
    if (cached && this.clock.now() < cached.until) return cached.runtime;
    const entry = {
      runtime: this.#loadChannel(code, account ?? undefined, entryEnd),
      until: Number.POSITIVE_INFINITY,
    };
    function entryEnd(until: number) {
      entry.until = until;
    }
    this.#channels.set(key, entry);
    entry.runtime.catch(() => {
      if (this.#channels.get(key) === entry) this.#channels.delete(key);
    });
    return entry.runtime;
  }

  /**
   * A channel's definition alone, without loading its keys: what starting an instance needs (its
   * accounts); keys are loaded, and their problems reported, when a step runs.
   */
  async channelDefinition(code: string): Promise<ChannelDefinition | undefined> {
    return (await this.source.getChannel(code))?.definition;
  }

  async product(code: string): Promise<ProductDefinition> {
    await this.#refresh();
    let product = this.#products.get(code);
    if (!product) {
      product = this.source.getProduct(code).then((found) => {
        if (found) return found;
        throw new CapflowError(
          "DEFINITION_NOT_FOUND",
          `product "${code}" is not defined; push its definition first (capflow push <dir>)`,
          { context: { product: code } },
        );
      });
      this.#products.set(code, product);
      product.catch(() => this.#products.delete(code));
    }
    return product;
  }

  /**
   * The codes of the products that list this channel, under any behavior, ordered: a business key
   * they hold is one loan whatever behavior a start on the channel names.
   */
  async productsListing(channel: string): Promise<string[]> {
    await this.#refresh();
    let list = this.#productList;
    if (!list) {
      list = this.source.listProducts();
      this.#productList = list;
      list.catch(() => {
        if (this.#productList === list) this.#productList = undefined;
      });
    }
    return (await list)
      .filter((product) => product.channels.some((entry) => entry.channel === channel))
      .map((product) => product.code);
  }

  /** The pinned version, or the active one when `version` is undefined. */
  async behavior(channel: string, behavior: string, version?: number): Promise<BehaviorRuntime> {
    if (version === undefined) {
      await this.#refresh();
      const key = `${channel}/${behavior}`;
      let active = this.#active.get(key);
      if (!active) {
        active = this.#loadBehavior(channel, behavior, undefined);
        this.#active.set(key, active);
        active.catch(() => this.#active.delete(key));
      }
      return active;
    }
    const key = `${channel}/${behavior}@${version}`;
    let pinned = this.#behaviors.get(key);
    if (!pinned) {
      pinned = this.#loadBehavior(channel, behavior, version);
      this.#behaviors.set(key, pinned);
      pinned.catch(() => this.#behaviors.delete(key));
    }
    return pinned;
  }

  async #refresh(): Promise<void> {
    const now = this.clock.now();
    if (now - this.#checkedAt < this.refreshMs) return;
    this.#checkedAt = now;
    const revision = await this.source.revision();
    if (revision !== this.#revision) {
      this.#revision = revision;
      this.#active.clear();
      this.#channels.clear();
      this.#products.clear();
      this.#productList = undefined;
    }
  }

  async #loadBehavior(
    channel: string,
    behavior: string,
    version: number | undefined,
  ): Promise<BehaviorRuntime> {
    const loaded = await this.source.getBehavior(channel, behavior, version);
    if (!loaded) {
      const which = version === undefined ? "an active version" : `version ${version}`;
      throw new CapflowError(
        "DEFINITION_NOT_FOUND",
        `behavior ${channel}/${behavior} has no ${which}; push the definitions first (capflow push <dir>)`,
        { context: { channel, behavior } },
      );
    }
    const runtime = {
      definition: loaded.definition,
      version: loaded.version,
      machine: new BehaviorMachine(loaded.definition, loaded.version),
    };
    if (version === undefined) {
      // The active version is also a pinned one: share it with instances pinned to it.
      const pinnedKey = `${channel}/${behavior}@${loaded.version}`;
      const existing = this.#behaviors.get(pinnedKey);
      if (existing) return existing;
      this.#behaviors.set(pinnedKey, Promise.resolve(runtime));
    }
    return runtime;
  }

  async #loadChannel(
    code: string,
    accountCode: string | undefined,
    validUntil: (until: number) => void,
  ): Promise<ChannelRuntime> {
    const loaded = await this.source.getChannel(code);
    if (!loaded) {
      throw new CapflowError(
        "DEFINITION_NOT_FOUND",
        `channel "${code}" is not defined; push its definition first`,
        {
          context: { channel: code },
        },
      );
    }
    const now = this.clock.now();
    const period = channelAt(loaded.definition, now);
    const overlapping =
      period.previous !== undefined && now < period.previous.overlapUntil
        ? period.previous
        : undefined;
    // Loaded again when the next values take effect, or when the previous keys stop counting.
    validUntil(Math.min(period.until ?? Infinity, overlapping?.overlapUntil ?? Infinity));
    const runtime = await this.#loadChannelValues(
      code,
      accountCode,
      period.definition,
      loaded.baseDir,
    );
    if (overlapping === undefined) return runtime;
    const previous = await this.#loadChannelValues(
      code,
      accountCode,
      overlapping.definition,
      loaded.baseDir,
    );
    return {
      ...runtime,
      handler: withPreviousKeys(
        runtime.handler,
        previous.handler,
        overlapping.overlapUntil,
        this.clock,
      ),
    };
  }

  async #loadChannelValues(
    code: string,
    accountCode: string | undefined,
    definition: ChannelDefinition,
    baseDir: string | undefined,
  ): Promise<ChannelRuntime> {
    // An account code may come from a callback's URL: "constructor" is no account.
    const account = ownEntry(definition.accounts, accountCode);
    if (accountCode !== undefined && account === undefined) {
      throw new CapflowError(
        "DEFINITION_NOT_FOUND",
        `channel "${code}" has no account "${accountCode}", which instances use for life; add it back to the channel (capflow push <dir>) before retrying them`,
        { context: { channel: code, account: accountCode } },
      );
    }
    const where = baseDir === undefined ? {} : { baseDir };
    // The crypto handler is made per channel and account: each account signs and verifies with
    // its own keys (its merge patch over the channel's options), its callbacks included.
    const [handler, tls] = await Promise.all([
      this.cryptoHandlers.create(account ? accountCrypto(definition, account) : definition.crypto, {
        secrets: this.secrets,
        clock: this.clock,
        channel: code,
        cryptoThreadPool: this.cryptoThreadPool,
        ...where,
      }),
      loadChannelTls(account?.tls ?? definition.tls, {
        secrets: this.secrets,
        context: { channel: code, role: "tls", ...(accountCode ? { account: accountCode } : {}) },
        ...where,
      }),
    ]);
    return {
      definition,
      ...(accountCode === undefined
        ? {}
        : { account: accountCode, accountValues: account?.values ?? {} }),
      handler,
      ...(tls === undefined ? {} : { tls }),
    };
  }
}
