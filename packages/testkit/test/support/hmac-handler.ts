import { createHmac, timingSafeEqual } from "node:crypto";
import {
  CapflowError,
  type Codec,
  type CryptoHandler,
  type OpenedMessage,
  type WireRequest,
  type WireResponse,
} from "@capflow/core";

/**
 * A tiny symmetric test scheme: the body travels in clear with an HMAC-SHA256 in `x-signature`.
 * Both sides use the same handler with the same secret; a different secret plays a wrong key.
 */
export function hmacHandler(secret: string): CryptoHandler {
  const sign = (text: string) => createHmac("sha256", secret).update(text).digest("base64");
  const open = (
    message: { headers: Record<string, string>; body: string },
    query: Record<string, string>,
    codec: Codec,
  ): OpenedMessage => {
    const expected = Buffer.from(sign(message.body));
    const given = Buffer.from(message.headers["x-signature"] ?? "");
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new CapflowError("CRYPTO_VERIFY_FAILED", "The signature does not verify.");
    }
    return {
      headers: message.headers,
      query,
      body: codec.decode(message.body),
      text: message.body,
    };
  };
  return {
    async sealRequest(request): Promise<WireRequest> {
      const body = request.codec.encode(request.body);
      return {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: {
          ...request.headers,
          "content-type": request.codec.contentType,
          "x-signature": sign(body),
        },
        body,
      };
    },
    async openRequest(request, codec) {
      return open(request, request.query, codec);
    },
    async sealResponse(response): Promise<WireResponse> {
      const body = response.codec.encode(response.body);
      return {
        status: response.status,
        headers: {
          ...response.headers,
          "content-type": response.codec.contentType,
          "x-signature": sign(body),
        },
        body,
      };
    },
    async openResponse(response, _request, codec) {
      return open(response, {}, codec);
    },
  };
}
