import { CapflowError, type Engine } from "@capflow/core";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { sendError } from "../http/error-reply.ts";

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
  // Funders notify with POST (as the core listener): any other method is refused before its body
  // is read, so a PUT or GET carrying a genuine notification never reaches the inbox.
  const otherMethods = app.supportedMethods.filter((method) => method !== callbackMethod);
  for (const url of ["/:channel/:callback", "/:channel/:callback/:account"]) {
    app.route<{ Params: CallbackParams }>({
      method: callbackMethod,
      url,
      handler: async (request, reply) => {
        const { ack } = await handler(request);
        return reply.code(ack.status).headers(ack.headers).send(Buffer.from(ack.bytes));
      },
    });
    app.route({
      method: otherMethods,
      url,
      onRequest: async (_request, reply) => {
        await sendError(reply.header("allow", callbackMethod), methodNotAllowed);
      },
      handler: async (_request, reply) => sendError(reply, methodNotAllowed),
    });
  }
}

const callbackMethod = "POST";

const methodNotAllowed = new CapflowError(
  "REQUEST_METHOD_NOT_ALLOWED",
  `funders send notifications with ${callbackMethod}; nothing was stored, send it again with ${callbackMethod}`,
);
