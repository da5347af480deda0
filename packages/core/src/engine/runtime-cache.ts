import type { CryptoHandler } from "../crypto/handler.ts";
import type { CryptoHandlerRegistry } from "../crypto/handler-registry.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { DefinitionSource } from "../ports/definition-source.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import type { TransportTls } from "../ports/transport.ts";
import { loadChannelTls } from "../transport/channel-tls.ts";
import { BehaviorMachine } from "./behavior-machine.ts";

export interface ChannelRuntime {
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
  readonly #channels = new Map<string, Promise<ChannelRuntime>>();
  #revision: string | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly source: DefinitionSource,
    private readonly cryptoHandlers: CryptoHandlerRegistry,
    private readonly secrets: SecretResolver,
    private readonly clock: Clock,
    private readonly refreshMs = 1_000,
  ) {}

  async channel(code: string): Promise<ChannelRuntime> {
    await this.#refresh();
    let runtime = this.#channels.get(code);
    if (!runtime) {
      runtime = this.#loadChannel(code);
      this.#channels.set(code, runtime);
      runtime.catch(() => this.#channels.delete(code));
    }
    return runtime;
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

  async #loadChannel(code: string): Promise<ChannelRuntime> {
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
    const baseDir = loaded.baseDir === undefined ? {} : { baseDir: loaded.baseDir };
    const [handler, tls] = await Promise.all([
      this.cryptoHandlers.create(loaded.definition.crypto, {
        secrets: this.secrets,
        clock: this.clock,
        channel: code,
        ...baseDir,
      }),
      loadChannelTls(loaded.definition.tls, {
        secrets: this.secrets,
        context: { channel: code, role: "tls" },
        ...baseDir,
      }),
    ]);
    return { definition: loaded.definition, handler, ...(tls === undefined ? {} : { tls }) };
  }
}
