import {
  CapflowError,
  type Codec,
  type CryptoHandlerFactory,
  decodeBinary,
  encodeBinary,
  type KeySpec,
  loadPrivateKey,
  loadPublicKey,
  sm2Sign,
  sm2Verify,
  sortedFieldsCanonical,
} from "@capflow/core";

interface Sm2SortedFieldsOptions {
  signing: KeySpec;
  verifying: KeySpec;
  /** The SM2 user ID the partner signs and verifies with, often the merchant number. */
  userId: string;
}

type Fields = Record<string, unknown>;

/** SM3withSM2 over the sorted fields, DER in base64 in the body's `sign`: a handler of one's own. */
export const sm2SortedFieldsHandler: CryptoHandlerFactory<Sm2SortedFieldsOptions> = {
  name: "sm2-sorted-fields",
  validateOptions: (options) =>
    typeof (options as Partial<Sm2SortedFieldsOptions>).userId === "string"
      ? []
      : [{ pointer: "/userId", message: "userId is required: the SM2 user ID the partner uses" }],
  async create(options, deps) {
    const own = await loadPrivateKey(options.signing, "sm2", deps);
    const peer = await loadPublicKey(options.verifying, "sm2", deps);
    if (own.kind !== "sm2-private" || peer.kind !== "sm2-public") throw new TypeError("SM2 keys");
    const sm2 = { userId: options.userId, encoding: "der" as const };
    const canonical = (fields: Fields) =>
      sortedFieldsCanonical(fields, { kind: "sortedFields" }, "sign");
    const seal = (body: unknown, codec: Codec) => {
      const fields = body as Fields;
      const sign = encodeBinary(sm2Sign(canonical(fields), own, sm2), "base64");
      return codec.encode({ ...fields, sign });
    };
    const open = (text: string, codec: Codec) => {
      const fields = codec.decode(text) as Fields;
      const signature = decodeBinary(String(fields.sign ?? ""), "base64");
      if (signature === undefined || !sm2Verify(canonical(fields), signature, peer, sm2)) {
        throw new CapflowError("CRYPTO_VERIFY_FAILED", "the SM2 signature does not match");
      }
      return fields;
    };
    return {
      async sealRequest(r) {
        const headers = { ...r.headers, "content-type": r.codec.contentType };
        return { ...r, headers, body: seal(r.body, r.codec) };
      },
      async openResponse(r, _sent, codec) {
        return { headers: r.headers, query: {}, body: open(r.body, codec), text: r.body };
      },
      async openRequest(r, codec) {
        return { headers: r.headers, query: r.query, body: open(r.body, codec), text: r.body };
      },
      async sealResponse(r) {
        return { status: r.status, headers: r.headers, body: seal(r.body, r.codec) };
      },
    };
  },
};
