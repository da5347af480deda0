import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { callbackRequestListener, type Engine } from "@capflow/core";

/**
 * What a host service exposes to its funders: `POST /callbacks/<channel>/<callback>` hands the
 * raw request to `engine.receiveCallback` (verify, store in the inbox, wake the instance) and
 * writes the acknowledgement the funder expects, every time, duplicates included (core's
 * `callbackRequestListener`), counting requests for the summary and for the demo clock.
 */
export interface CallbackServer {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string;
  /** Requests received, and those still being handled. */
  readonly received: number;
  readonly inFlight: number;
  close(): Promise<void>;
}

export async function startCallbackServer(engine: Engine): Promise<CallbackServer> {
  let received = 0;
  let inFlight = 0;
  const listener = callbackRequestListener(engine);
  const server: Server = createServer((request, response) => {
    received++;
    inFlight++;
    response.on("close", () => {
      inFlight--;
    });
    listener(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get received() {
      return received;
    },
    get inFlight() {
      return inFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
