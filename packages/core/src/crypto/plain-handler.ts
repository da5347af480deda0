import type { Codec } from "../message/codec.ts";
import type { CryptoHandler } from "./handler.ts";
import type { CryptoHandlerFactory } from "./handler-registry.ts";

/** The handler of channels without any crypto: it only encodes and decodes bodies. */
export const plainCryptoHandler: CryptoHandlerFactory = {
  name: "plain",
  validateOptions(options) {
    const keys = typeof options === "object" && options !== null ? Object.keys(options) : [];
    return keys.map((key) => ({
      pointer: `/${key}`,
      message: "the plain handler takes no options",
    }));
  },
  async create() {
    return createPlainHandler();
  },
};

function createPlainHandler(): CryptoHandler {
  return {
    async sealRequest(request) {
      const { method, path, headers, query, body, codec } = request;
      const text = codec.encode(body);
      return { method, path, headers: withContentType(headers, codec, text), query, body: text };
    },
    async openResponse(response, _request, codec) {
      return {
        headers: response.headers,
        query: {},
        body: codec.decode(response.body),
        text: response.body,
        ...(response.charset === undefined ? {} : { charset: response.charset }),
      };
    },
    async openRequest(request, codec) {
      return {
        headers: request.headers,
        query: request.query,
        body: codec.decode(request.body),
        text: request.body,
        ...(request.charset === undefined ? {} : { charset: request.charset }),
      };
    },
    async sealResponse(response) {
      const { status, headers, body, codec } = response;
      const text = codec.encode(body);
      return { status, headers: withContentType(headers, codec, text), body: text };
    },
  };
}

/** The codec's content type unless the headers name one; none for an empty body. */
function withContentType(
  headers: Record<string, string>,
  codec: Codec,
  text: string,
): Record<string, string> {
  return text === "" ? headers : { "content-type": codec.contentType, ...headers };
}
