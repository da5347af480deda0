import type { Duration } from "../../definition/types.ts";
import type { SortedFieldsCanonicalization } from "../canonicalize.ts";
import type { ContentCipherName } from "../ciphers/content-cipher.ts";
import type { BinaryEncoding } from "../encoding.ts";
import type { JsonMemberSelector } from "../json-member.ts";
import type { KeyWrapName } from "../key-wrap.ts";
import type { KeyFormat, KeySpec } from "../keys/key-spec.ts";
import type { DigestAlgorithm, HmacAlgorithm } from "../signers/digest-signer.ts";

export type {
  ContentCipherName,
  DigestAlgorithm,
  HmacAlgorithm,
  JsonMemberSelector,
  KeyFormat,
  KeySpec,
  KeyWrapName,
  SortedFieldsCanonicalization,
};

/**
 * Options of the built-in `configurable` crypto handler, as authored in a channel's
 * `crypto.options`. The handler is composed of parts; each kind of message has its own profile
 * because partners treat them differently (WeChat Pay APIv3 signs requests in `Authorization`
 * but answers and callbacks in `Wechatpay-*` headers).
 *
 * Profiles are named from the platform's side; `role: "partner"` flips which profile each method
 * uses, so the mock partner builds its handler from the same options (see `mirrorCryptoOptions`).
 */
export interface ConfigurableCryptoOptions {
  /** Whose side this handler is on. Default `client` (the lending platform). */
  role?: "client" | "partner";
  keys?: CryptoKeySet;
  /** Platform -> partner API calls. Omitted profiles pass messages through unsigned and unencrypted. */
  request?: MessageProfile;
  /** Partner -> platform answers to those calls. */
  response?: MessageProfile;
  /** Partner -> platform notifications. */
  callback?: MessageProfile;
  /** Platform -> partner acknowledgements of notifications. */
  callbackAck?: MessageProfile;
}

/**
 * Keys by role, always from the point of view of whoever runs the handler: `signing` and
 * `decryption` are its own private keys, `verifying` and `encryption` the peer's public keys.
 */
export interface CryptoKeySet {
  /** Own private key (RSA PEM/PKCS#12, or SM2 hex) signing outgoing messages. */
  signing?: KeySpec;
  /** Peer public keys (or certificates) verifying incoming messages; several while rotating. */
  verifying?: KeySpec | KeySpec[];
  /** Peer public key that content keys are wrapped for. */
  encryption?: KeySpec;
  /** Own private key unwrapping content keys the peer wrapped. */
  decryption?: KeySpec;
  /** Shared secret of digest and HMAC signatures (MD5 `&key=`, HMAC-SHA256). */
  secret?: KeySpec;
  /** Shared content key, when content keys are not wrapped per message. */
  contentKey?: KeySpec;
  /** Shared AEAD key of encrypted callback resources (WeChat Pay's APIv3 key). */
  resourceKey?: KeySpec;
  /**
   * Checks the certificates of `verifying` before they verify anything: a path to one of
   * `anchors`, every certificate valid now, and the pinned serial or subject. With it, every
   * verifying key must be an X.509 certificate. CMS signatures use it in place of `verifying`
   * as their trust anchors.
   */
  trust?: CertificateTrustSpec;
}

export interface CertificateTrustSpec {
  /** CA certificates (roots or intermediates) trusted to issue the partner's certificates. */
  anchors: KeySpec[];
  /** Intermediate CA certificates that complete a path, not trusted by themselves. */
  intermediates?: KeySpec[];
  /** The partner's certificate must have this serial number (hex). */
  serial?: string;
  /** The partner's certificate subject must have these attributes (`CN=h2h.bank.example, O=Bank`). */
  subject?: string;
}

/** One kind of message: what is added, encrypted and signed, and where it goes. */
export interface MessageProfile {
  timestamp?: TimestampPart;
  nonce?: NoncePart;
  /** Where the signer's key id travels (its certificate serial); inbound, it selects the key. */
  keyId?: FieldLocation;
  /** Static values added to every sealed message (e.g. `sign_type: RSA2`, `charset`). */
  fields?: Record<string, string>;
  encryption?: EncryptionPart;
  /** AEAD-encrypted object inside the body (WeChat Pay APIv3 callback `resource`). */
  resource?: ResourcePart;
  signature?: SignaturePart;
}

export interface FieldLocation {
  in: "body" | "header" | "query";
  /** Body field, header (any case) or query parameter name. */
  name: string;
}

export interface TimestampPart {
  /** Where the timestamp travels. Omit when it only appears in the signature header or canonical string. */
  in?: FieldLocation["in"];
  name?: string;
  /** Default `unixSeconds`. `pattern` uses a Luxon format such as `yyyyMMddHHmmss`. */
  format?: "unixSeconds" | "unixMillis" | "iso8601" | "pattern";
  pattern?: string;
  /** IANA zone for `pattern` and `iso8601`. Default `Asia/Shanghai`. */
  timeZone?: string;
  /** Inbound messages whose timestamp is further than this from now are rejected, e.g. `5m`. */
  window?: Duration;
}

export interface NoncePart {
  in?: FieldLocation["in"];
  name?: string;
  /** Default 32. */
  length?: number;
  /** Default `alphanumeric`. */
  alphabet?: "alphanumeric" | "hex";
}

export type AsymmetricSignatureAlgorithm =
  | "rsa-sha1"
  | "rsa-sha256"
  | "rsa-pss-sha256"
  | "sm2-sm3"
  | "cms-rsa-sha256"
  | "cms-sm2-sm3";
export type SignatureAlgorithm = DigestAlgorithm | HmacAlgorithm | AsymmetricSignatureAlgorithm;

export interface SignaturePart {
  algorithm: SignatureAlgorithm;
  /** Default `hex-upper` for digests and HMACs, `base64` for RSA, `hex` for SM2. */
  output?: BinaryEncoding;
  canonical: Canonicalization;
  /** Sign the wire message (after encryption: the envelope) or the plain business body. Default `wire`. */
  over?: "wire" | "plain";
  /** Digests and HMACs: append this text and the shared secret to the canonical string, e.g. `&key=`. */
  appendKey?: string;
  /** SM2 user ID. Default `1234567812345678`. */
  userId?: string;
  /** SM2 signature encoding: `raw` r||s (default) or ASN.1 `der`. */
  sm2Encoding?: "raw" | "der";
  /** RSA-PSS salt length in bytes. Default 32. */
  saltLength?: number;
  /** `cms-rsa-sha256`, `cms-sm2-sm3`: the form of the CMS/PKCS#7 SignedData and what its signer must be. */
  cms?: CmsSignatureOptions;
  placement: SignaturePlacement;
}

/**
 * A CMS/PKCS#7 SignedData signature (`cms-rsa-sha256`, `cms-sm2-sm3`): signed with `keys.signing` and its
 * certificate (`certificate` of the key, or the PKCS#12's), verified against `keys.verifying` as
 * trust anchors: the signer's certificate must chain to one of them and be valid at the time.
 */
export interface CmsSignatureOptions {
  /** The content inside the SignedData; default false (detached). */
  attached?: boolean;
  /** Content type, digest and signing time as signed attributes; default true. */
  signedAttributes?: boolean;
  /** The signer's certificate in the message; default true (false: by issuer and serial). */
  includeCertificate?: boolean;
  /** Verification: the signer's certificate serial must be this (hex). */
  signerSerial?: string;
  /** Verification: the signer's subject must have these attributes (`CN=h2h.bank.example, O=Bank`). */
  signerSubject?: string;
  /**
   * `cms-sm2-sm3` signing: the content types of GM/T 0010 (`gm`, default) or of PKCS#7
   * (`pkcs7`, as OpenSSL writes them). Verification accepts both.
   */
  oids?: "gm" | "pkcs7";
}

export type SignaturePlacement =
  | { in: "body" | "query"; name: string }
  | {
      in: "header";
      name: string;
      /**
       * Header value with `{signature}`, `{timestamp}`, `{nonce}`, `{serial}` and `{name}` of
       * `values`, e.g. `WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",serial_no="{serial}",…`.
       * Default `{signature}`. Parsed back on inbound messages.
       */
      template?: string;
      values?: Record<string, string>;
    };

export type Canonicalization =
  | SortedFieldsCanonicalization
  | { kind: "rawBody" }
  /**
   * The exact text of one top-level member of a JSON body, by `member` name or name `pattern`
   * (Alipay OpenAPI answers: `{ "kind": "jsonMember", "pattern": "_response$" }`).
   */
  | ({ kind: "jsonMember" } & JsonMemberSelector)
  /**
   * The exact text of one XML element of the body, start tag to end tag, in the wire's charset
   * (banks signing the `<body>` of a `<message>`: `{ "kind": "xmlElement", "element": "body" }`).
   * Exactly one element of the document may have the name.
   */
  | { kind: "xmlElement"; element: string }
  | {
      kind: "template";
      /** Named parts `{method}`, `{path}` (with query), `{timestamp}`, `{nonce}`, `{body}`, `{header:x}`, `{field:x}`. */
      template: string;
    };

export interface EncryptionPart {
  cipher: ContentCipherName;
  /** `wrapped`: a random key per message, wrapped with `keys.encryption`; `shared`: `keys.contentKey`. */
  contentKey: "wrapped" | "shared";
  wrap?: KeyWrapName;
  /** SM2 wrapped keys: prefix C1 with `04` (Bouncy Castle) or not (sm-crypto). Default false; both accepted inbound. */
  sm2PointPrefix?: boolean;
  /** IV/nonce: `field` in the envelope, `prefix` of the ciphertext (default), `zero` (fixed all-zero IV). */
  iv?: "field" | "prefix" | "zero";
  /** GCM associated data (UTF-8). */
  aad?: string;
  /**
   * How ciphertext, wrapped key and IV are written: one encoding for all, or one per part (real
   * banks mix them: data in base64, key and IV in hex). Default `base64`.
   */
  encoding?: BinaryEncoding | EnvelopeEncodings;
  envelope: EnvelopeLayout;
}

/** An encoding per envelope part; parts left out are `base64`. */
export interface EnvelopeEncodings {
  ciphertext?: BinaryEncoding;
  key?: BinaryEncoding;
  iv?: BinaryEncoding;
}

export interface EnvelopeLayout {
  /** Default `json`. */
  format?: "json" | "form";
  /** Field holding the ciphertext, e.g. `data`. */
  data: string;
  /** Field holding the wrapped key (wrapped content keys only), e.g. `key`. */
  key?: string;
  /** Field holding the IV when `iv` is `field`. */
  iv?: string;
}

export interface ResourcePart {
  /** Body field holding `{ algorithm, ciphertext, nonce, associated_data }`. */
  field: string;
  /** Default `aes-256-gcm`. */
  cipher?: "aes-128-gcm" | "aes-256-gcm";
  /** Field names inside the resource. Defaults: `ciphertext`, `nonce`, `associated_data`, `algorithm`. */
  ciphertext?: string;
  nonce?: string;
  associatedData?: string;
  algorithmField?: string;
  /** Value written to `algorithmField` when sealing. Default `AEAD_AES_256_GCM`. */
  algorithmName?: string;
}
