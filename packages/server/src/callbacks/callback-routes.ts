import type { Engine } from "@capflow/core";
import type { FastifyInstance, FastifyRequest } from "fastify";

export interface CallbackRoutesOptions {
  engine: Engine;
}

interface CallbackParams {
  channel: string;
  callback: string;
  account?: string;
}

/**
 * Funder notifications: `/callbacks/:channel/:callback` and, for a channel account's
 * notifications, `/callbacks/:channel/:callback/:account`. The body reaches the engine as the
 * bytes received, whatever its content type (it is decoded in the callback's declared charset and
 * its signature covers those bytes), and the acknowledgement goes back as the bytes the engine
 * encoded, with its content type. Registered in its own scope: its byte parsers apply here only.
 */
export async function callbackRoutes(app: FastifyInstance, options: CallbackRoutesOptions) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => {
    done(null, body);
  });
  const handler = async (request: FastifyRequest<{ Params: CallbackParams }>) => {
    const { channel, callback, account } = request.params;
    const url = new URL(request.url, "http://callback.invalid");
    const body = Buffer.isBuffer(request.body) ? request.body : new Uint8Array();
    const ack = await options.engine.receiveCallback(
      channel,
      callback,
      {
        method: request.method,
        path: url.pathname,
        headers: request.headers,
        query: Object.fromEntries(url.searchParams),
        body,
      },
      account === undefined ? {} : { account },
    );
    if (!ack.accepted) {
      request.log.info(
        { channel, callback, code: ack.error?.code },
        "callback refused; the funder is told to send it again",
      );
    }
    return { ack };
  };
  for (const url of ["/:channel/:callback", "/:channel/:callback/:account"]) {
    app.route<{ Params: CallbackParams }>({
      method: ["GET", "POST", "PUT"],
      url,
      handler: async (request, reply) => {
        const { ack } = await handler(request);
        return reply.code(ack.status).headers(ack.headers).send(Buffer.from(ack.bytes));
      },
    });
  }
}
