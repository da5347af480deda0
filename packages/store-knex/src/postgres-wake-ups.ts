import type { WakeUp, WakeUpSource, WakeUpSubscription } from "@capflow/core";
import pg from "pg";
import { dueChannel } from "./sql-names.ts";

/** Wait before reconnecting after the listening connection broke. */
const reconnectDelayMs = 1_000;

/**
 * Due notifications of one schema (migration 0016) over PostgreSQL `LISTEN`, on a connection of
 * its own (outside knex's pool: a pooled connection goes back to other work). A broken connection
 * is reopened after a second, and then sends one notice without details, since notifications sent
 * meanwhile are lost.
 */
export class PostgresWakeUps implements WakeUpSource {
  readonly #connection: pg.ClientConfig;
  readonly #schema: string;

  constructor(connection: pg.ClientConfig, schema: string) {
    this.#connection = connection;
    this.#schema = schema;
  }

  async listen(onWakeUp: (wakeUp: WakeUp) => void): Promise<WakeUpSubscription> {
    let closed = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const channel = dueChannel(this.#schema);
    const connect = async (): Promise<pg.Client> => {
      const next = new pg.Client({ ...this.#connection, application_name: "capflow wake-ups" });
      next.on("notification", (message) => onWakeUp(parseNotice(message.payload)));
      next.on("error", () => {
        // Followed by "end", where the reconnect happens.
      });
      next.on("end", () => {
        if (closed || client !== next) return;
        client = undefined;
        const reconnect = () => {
          retry = undefined;
          if (closed) return;
          connect().then(
            (reopened) => {
              if (closed) {
                void reopened.end().catch(() => {});
                return;
              }
              client = reopened;
              onWakeUp({});
            },
            () => {
              retry = setTimeout(reconnect, reconnectDelayMs);
            },
          );
        };
        retry = setTimeout(reconnect, reconnectDelayMs);
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${channel}`);
      } catch (error) {
        await next.end().catch(() => {});
        throw error;
      }
      return next;
    };
    client = await connect();
    return {
      async close() {
        closed = true;
        if (retry) clearTimeout(retry);
        const open = client;
        client = undefined;
        await open?.end().catch(() => {});
      },
    };
  }
}

function parseNotice(payload: string | undefined): WakeUp {
  try {
    const notice = JSON.parse(payload ?? "{}") as { channel?: unknown; at?: unknown };
    return {
      ...(typeof notice.channel === "string" ? { channel: notice.channel } : {}),
      ...(typeof notice.at === "number" ? { at: notice.at } : {}),
    };
  } catch {
    return {};
  }
}
