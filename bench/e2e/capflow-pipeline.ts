/**
 * capflow's side of the end-to-end bench: the reference pipeline's work as a channel definition
 * (30-field JSON body template, the configurable crypto handler with the same envelope) and a
 * behavior of one call step, run by `Worker` on PostgreSQL and Redis.
 */
import type { BehaviorDefinition, ChannelDefinition, Engine, WorkerOptions } from "@capflow/core";
import {
  createEngine,
  FlowControl,
  ProcessorRegistry,
  validateDefinitions,
  Worker,
} from "@capflow/core";
import type { CapflowRedis } from "@capflow/lock-redis";
import { type CapflowDatabase, openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { e2eKeyFiles } from "./keys.ts";
import { requestBodyTemplate } from "./work.ts";

const envelopeProfile = {
  encryption: {
    cipher: "aes-256-cbc",
    contentKey: "wrapped",
    wrap: "rsa-oaep-sha256",
    iv: "field",
    envelope: { data: "data", key: "key", iv: "iv" },
  },
  signature: {
    algorithm: "rsa-sha256",
    canonical: { kind: "sortedFields" },
    placement: { in: "body", name: "sign" },
  },
};

function channelFor(code: string, funderOrigin: string, sealed: boolean): ChannelDefinition {
  return {
    code,
    name: `End-to-end bench (${sealed ? "RSA envelope" : "plain"})`,
    baseUrl: funderOrigin,
    timeZone: "Asia/Shanghai",
    bulkhead: 256,
    crypto: sealed
      ? {
          handler: "configurable",
          options: {
            keys: {
              signing: { ref: `file:${e2eKeyFiles.platformPrivate}` },
              verifying: [{ ref: `file:${e2eKeyFiles.funderPublic}` }],
              encryption: { ref: `file:${e2eKeyFiles.funderPublic}` },
              decryption: { ref: `file:${e2eKeyFiles.platformPrivate}` },
            },
            request: envelopeProfile,
            response: envelopeProfile,
          },
        }
      : { handler: "plain" },
    interfaces: {
      apply: {
        method: "POST",
        path: sealed ? "/sealed/apply" : "/plain/apply",
        timeout: "15s",
        idempotent: true,
        statusTable: {
          code: 'body.respCode == "0000" ? body.status : body.respCode',
          codes: {
            SUCCESS: { outcome: "succeeded" },
            FAIL: { outcome: "failed" },
          },
        },
      },
    },
  } as ChannelDefinition;
}

function behaviorFor(channel: string): BehaviorDefinition {
  return {
    channel,
    code: "apply",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "apply",
        request: { format: "json", body: requestBodyTemplate },
        response: { extract: { bankSerialNo: "body.bankSerialNo" } },
        routes: [
          { when: 'outcome == "succeeded"', to: "done" },
          { when: 'outcome == "failed"', to: "rejected" },
        ],
        otherwise: "rejected",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      rejected: { kind: "terminal", outcome: "failed" },
    },
  } as BehaviorDefinition;
}

export interface CapflowPipelineOptions {
  databaseUrl: string;
  redis: CapflowRedis;
  schema: string;
  funderOrigin: string;
  worker: WorkerOptions;
  /** PostgreSQL connections of the store. */
  poolSize: number;
  /** Its connections' name in `pg_stat_activity`, to tell its backends from other work. */
  applicationName: string;
  /** `EngineOptions.cryptoThreadPool`: private-key operations on libuv's thread pool. */
  cryptoThreadPool: boolean;
}

export const sealedChannel = "e2e-sealed";
export const plainChannel = "e2e-plain";

export class CapflowPipeline {
  readonly db: CapflowDatabase;
  readonly #options: CapflowPipelineOptions;
  readonly #engine: Engine;
  #settled = 0;
  #onSettled: (() => void) | undefined;

  private constructor(db: CapflowDatabase, options: CapflowPipelineOptions) {
    this.db = db;
    this.#options = options;
    this.#engine = createEngine({
      store: db.instances,
      definitions: db.definitions,
      processors: new ProcessorRegistry(),
      cryptoThreadPool: options.cryptoThreadPool,
      locks: options.redis.locks,
      flowControl: new FlowControl({ limiter: options.redis.limiter }),
      onEvent: (event) => {
        if (event.type === "instance.settled") {
          this.#settled++;
          this.#onSettled?.();
        } else if (event.type === "instance.attention" || event.type === "step.failed") {
          console.error("e2e capflow:", JSON.stringify(event));
        }
      },
    });
  }

  static async open(options: CapflowPipelineOptions): Promise<CapflowPipeline> {
    const db = openPostgresStore({
      connectionString: options.databaseUrl,
      applicationName: options.applicationName,
      schema: options.schema,
      pool: { max: options.poolSize },
    });
    await db.migrate();
    const channels = [
      channelFor(sealedChannel, options.funderOrigin, true),
      channelFor(plainChannel, options.funderOrigin, false),
    ];
    const behaviors = channels.map((channel) => behaviorFor(channel.code));
    const { problems } = validateDefinitions({
      channels: channels.map((value, i) => ({ file: `channel-${i}.json`, definition: value })),
      behaviors: behaviors.map((value, i) => ({ file: `behavior-${i}.json`, definition: value })),
    });
    if (problems.length > 0) {
      throw new Error(`e2e definitions invalid: ${JSON.stringify(problems, null, 2)}`);
    }
    await pushDefinitions(db, { channels, behaviors });
    return new CapflowPipeline(db, options);
  }

  /** Starts one instance per input (nothing runs until `drain`). */
  async enqueue(channel: string, inputs: readonly Record<string, string>[]): Promise<void> {
    const inFlight = new Set<Promise<unknown>>();
    for (const input of inputs) {
      const started = this.#engine.start({
        channel,
        behavior: "apply",
        businessKey: String(input.applyNo),
        input,
      });
      inFlight.add(started);
      void started.finally(() => inFlight.delete(started));
      if (inFlight.size >= 16) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  /** Runs a worker until `count` instances have settled, then stops it. */
  async drain(count: number): Promise<void> {
    this.#settled = 0;
    const worker = new Worker(this.#engine, { inboxSweepMs: 0, ...this.#options.worker });
    const done = new Promise<void>((resolve) => {
      this.#onSettled = () => {
        if (this.#settled >= count) resolve();
      };
    });
    worker.start();
    await done;
    this.#onSettled = undefined;
    await worker.stop();
  }

  async close(): Promise<void> {
    await this.#engine.close();
    await this.db.knex.raw(`DROP SCHEMA IF EXISTS "${this.#options.schema}" CASCADE`);
    await this.db.close();
  }
}
