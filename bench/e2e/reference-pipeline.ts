/**
 * The hand-written pipeline capflow is measured against in `pnpm bench e2e`: what a team writes
 * for one funder without capflow, plainly, with the usual libraries: pg, ioredis + redlock,
 * handlebars, node:crypto, undici.
 *
 * Per job: claim due jobs with `FOR UPDATE SKIP LOCKED` and a lease, take a redlock lock, render
 * the 30-field JSON request with Handlebars, seal it (AES-256-CBC under a random key, the key
 * wrapped with RSA-OAEP for the funder, SHA256withRSA over the envelope), POST it over undici,
 * verify and open the answer, then `BEGIN; UPDATE … WHERE version = $n; INSERT log; COMMIT`, and
 * unlock. Loops claim a batch and run it to the end before claiming again, like most hand-written
 * workers.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import pg from "pg";
import Redlock from "redlock";
import { Agent, request } from "undici";
import { e2eKeyFiles } from "./keys.ts";
import { requestTemplateText } from "./work.ts";

const Handlebars = createRequire(import.meta.url)("handlebars") as typeof import("handlebars");

export interface ReferencePipelineOptions {
  databaseUrl: string;
  redis: Redis;
  /** The schema for the jobs and log tables (created, and dropped by `close`). */
  schema: string;
  /** The funder's origin, e.g. `http://127.0.0.1:40123`. */
  funderOrigin: string;
  /** RSA envelope (true) or plain JSON (false). */
  sealed: boolean;
  /** Loops claiming at once. */
  loops: number;
  /** Jobs claimed per loop round. */
  batchSize: number;
  /** Its connections' name in `pg_stat_activity`. */
  applicationName: string;
}

interface Envelope {
  data: string;
  iv: string;
  key: string;
  sign: string;
}

interface ClaimedJob {
  id: string;
  business_key: string;
  input: Record<string, string>;
  version: number;
}

export class ReferencePipeline {
  readonly #options: ReferencePipelineOptions;
  readonly #pool: pg.Pool;
  readonly #redlock: Redlock;
  readonly #agent: Agent;
  readonly #render: (input: Record<string, string>) => string;
  readonly #platformPrivate: KeyObject;
  readonly #funderPublic: KeyObject;
  readonly #owner = randomUUID();
  readonly #jobs: string;
  readonly #log: string;

  constructor(options: ReferencePipelineOptions) {
    this.#options = options;
    this.#pool = new pg.Pool({
      connectionString: options.databaseUrl,
      application_name: options.applicationName,
      max: options.loops * options.batchSize + 2,
    });
    this.#redlock = new Redlock([options.redis], { retryCount: 0 });
    this.#agent = new Agent({ connections: options.loops * options.batchSize });
    this.#render = Handlebars.compile(requestTemplateText, { noEscape: true });
    this.#platformPrivate = createPrivateKey(readFileSync(e2eKeyFiles.platformPrivate));
    this.#funderPublic = createPublicKey(readFileSync(e2eKeyFiles.funderPublic));
    this.#jobs = `"${options.schema}".jobs`;
    this.#log = `"${options.schema}".job_log`;
  }

  async createTables(): Promise<void> {
    await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS "${this.#options.schema}"`);
    await this.#pool.query(`CREATE TABLE ${this.#jobs} (
      id text PRIMARY KEY,
      business_key text NOT NULL UNIQUE,
      input jsonb NOT NULL,
      status text NOT NULL,
      version integer NOT NULL DEFAULT 1,
      result jsonb,
      next_run_at timestamptz,
      lease_owner text,
      lease_until timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await this.#pool.query(
      `CREATE INDEX jobs_due ON ${this.#jobs} (next_run_at) WHERE status = 'active'`,
    );
    await this.#pool.query(`CREATE TABLE ${this.#log} (
      id bigserial PRIMARY KEY,
      job_id text NOT NULL,
      version integer NOT NULL,
      outcome text NOT NULL,
      response_code text,
      duration_ms double precision NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  /** Due jobs, one per business key. */
  async enqueue(inputs: readonly Record<string, string>[]): Promise<void> {
    for (let i = 0; i < inputs.length; i += 500) {
      const chunk = inputs.slice(i, i + 500);
      await this.#pool.query(
        `INSERT INTO ${this.#jobs} (id, business_key, input, status, next_run_at)
         SELECT gen_random_uuid()::text, x->>'applyNo', x, 'active', now()
         FROM jsonb_array_elements($1::jsonb) AS x`,
        [JSON.stringify(chunk)],
      );
    }
  }

  /**
   * Runs the loops until `count` jobs have settled; returns each job's time from lock to commit.
   */
  async drain(count: number): Promise<number[]> {
    const latencies: number[] = [];
    const loop = async () => {
      while (latencies.length < count) {
        const jobs = await this.#claim();
        if (jobs.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        await Promise.all(
          jobs.map(async (job) => {
            const latency = await this.#runJob(job);
            if (latency !== undefined) latencies.push(latency);
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: this.#options.loops }, loop));
    return latencies;
  }

  async #claim(): Promise<ClaimedJob[]> {
    const { rows } = await this.#pool.query<ClaimedJob>(
      `UPDATE ${this.#jobs} SET lease_owner = $1, lease_until = now() + interval '60 seconds'
       WHERE id IN (
         SELECT id FROM ${this.#jobs}
         WHERE status = 'active' AND next_run_at <= now()
           AND (lease_until IS NULL OR lease_until < now())
         ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, business_key, input, version`,
      [this.#owner, this.#options.batchSize],
    );
    return rows;
  }

  async #runJob(job: ClaimedJob): Promise<number | undefined> {
    let lock: Awaited<ReturnType<Redlock["acquire"]>>;
    try {
      lock = await this.#redlock.acquire([`ref:${job.id}`], 30_000);
    } catch {
      return undefined;
    }
    try {
      const started = performance.now();
      const requestText = this.#render(job.input);
      const body = this.#options.sealed ? JSON.stringify(this.#seal(requestText)) : requestText;
      const response = await request(
        `${this.#options.funderOrigin}/${this.#options.sealed ? "sealed" : "plain"}/apply`,
        {
          method: "POST",
          body,
          headers: { "content-type": "application/json" },
          dispatcher: this.#agent,
          headersTimeout: 15_000,
          bodyTimeout: 15_000,
        },
      );
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`funder answered ${response.statusCode}`);
      const answer = (
        this.#options.sealed ? this.#open(JSON.parse(text) as Envelope) : JSON.parse(text)
      ) as Record<string, string>;
      const outcome = answer.status === "SUCCESS" ? "succeeded" : "failed";
      const client = await this.#pool.connect();
      try {
        await client.query("BEGIN");
        const updated = await client.query(
          `UPDATE ${this.#jobs} SET status = $3, version = version + 1, result = $4,
             next_run_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
           WHERE id = $1 AND version = $2`,
          [job.id, job.version, outcome, JSON.stringify({ bankSerialNo: answer.bankSerialNo })],
        );
        if (updated.rowCount !== 1) {
          await client.query("ROLLBACK");
          return undefined;
        }
        await client.query(
          `INSERT INTO ${this.#log} (job_id, version, outcome, response_code, duration_ms)
           VALUES ($1, $2, $3, $4, $5)`,
          [job.id, job.version + 1, outcome, answer.respCode, performance.now() - started],
        );
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      return performance.now() - started;
    } finally {
      await lock.release().catch(() => {});
    }
  }

  #seal(plain: string): Envelope {
    const contentKey = randomBytes(32);
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-256-cbc", contentKey, iv);
    const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
    const key = publicEncrypt(
      { key: this.#funderPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      contentKey,
    ).toString("base64");
    const ivText = iv.toString("base64");
    const sign = createSign("RSA-SHA256");
    sign.update(`data=${data}&iv=${ivText}&key=${key}`);
    return { data, iv: ivText, key, sign: sign.sign(this.#platformPrivate, "base64") };
  }

  #open(envelope: Envelope): unknown {
    const verify = createVerify("RSA-SHA256");
    verify.update(`data=${envelope.data}&iv=${envelope.iv}&key=${envelope.key}`);
    if (!verify.verify(this.#funderPublic, envelope.sign, "base64")) {
      throw new Error("the funder's signature does not verify");
    }
    const contentKey = privateDecrypt(
      { key: this.#platformPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from(envelope.key, "base64"),
    );
    const decipher = createDecipheriv(
      "aes-256-cbc",
      contentKey,
      Buffer.from(envelope.iv, "base64"),
    );
    return JSON.parse(
      Buffer.concat([
        decipher.update(Buffer.from(envelope.data, "base64")),
        decipher.final(),
      ]).toString("utf8"),
    );
  }

  async close(): Promise<void> {
    await this.#pool.query(`DROP SCHEMA IF EXISTS "${this.#options.schema}" CASCADE`);
    await this.#pool.end();
    await this.#agent.close();
  }
}
