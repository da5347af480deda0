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
      return {
        method,
        path,
        headers: { "content-type": codec.contentType, ...headers },
        query,
        body: codec.encode(body),
      };
    },
    async openResponse(response, _request, codec) {
      return {
        headers: response.headers,
        query: {},
        body: codec.decode(response.body),
        text: response.body,
      };
    },
    async openRequest(request, codec) {
      return {
        headers: request.headers,
        query: request.query,
        body: codec.decode(request.body),
        text: request.body,
      };
    },
    async sealResponse(response) {
      const { status, headers, body, codec } = response;
      return {
        status,
        headers: { "content-type": codec.contentType, ...headers },
        body: codec.encode(body),
      };
    },
  };
}
