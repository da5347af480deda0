import type { CryptoHandler } from "../crypto/handler.ts";
import type { CryptoHandlerRegistry } from "../crypto/handler-registry.ts";
import { withPreviousKeys } from "../crypto/overlapping-handler.ts";
import { channelAt } from "../definition/future-values.ts";
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
  #revision: string | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly source: DefinitionSource,
    private readonly cryptoHandlers: CryptoHandlerRegistry,
    private readonly secrets: SecretResolver,
    private readonly clock: Clock,
    private readonly refreshMs = 1_000,
  ) {}

  /**
   * The channel as it is now: its future values that took effect applied, its keys loaded. At the
   * instant the next ones take effect (on this clock) the channel is loaded again, on every node
   * at once and without a push.
   */
  async channel(code: string): Promise<ChannelRuntime> {
    await this.#refresh();
    const cached = this.#channels.get(code);
    if (cached && this.clock.now() < cached.until) return cached.runtime;
    const entry = { runtime: this.#loadChannel(code, entryEnd), until: Number.POSITIVE_INFINITY };
    function entryEnd(until: number) {
      entry.until = until;
    }
    this.#channels.set(code, entry);
    entry.runtime.catch(() => {
      if (this.#channels.get(code) === entry) this.#channels.delete(code);
    });
    return entry.runtime;
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

  async #loadChannel(code: string, validUntil: (until: number) => void): Promise<ChannelRuntime> {
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
    const runtime = await this.#loadChannelValues(code, period.definition, loaded.baseDir);
    if (overlapping === undefined) return runtime;
    const previous = await this.#loadChannelValues(code, overlapping.definition, loaded.baseDir);
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
    definition: ChannelDefinition,
    baseDir: string | undefined,
  ): Promise<ChannelRuntime> {
    const where = baseDir === undefined ? {} : { baseDir };
    const [handler, tls] = await Promise.all([
      this.cryptoHandlers.create(definition.crypto, {
        secrets: this.secrets,
        clock: this.clock,
        channel: code,
        ...where,
      }),
      loadChannelTls(definition.tls, {
        secrets: this.secrets,
        context: { channel: code, role: "tls" },
        ...where,
      }),
    ]);
    return { definition, handler, ...(tls === undefined ? {} : { tls }) };
  }
}
