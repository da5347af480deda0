/**
 * Crypto handler cost next to the bare primitives it is made of. For each example scheme, one
 * task seals a request with the platform's handler and opens it with the mirrored partner handler;
 * the baseline does the same primitives by hand (node:crypto, and sm-crypto-v2 for SM2), with the
 * same async sign/verify and the same JSON/form text work. Target: the handler adds at most 15%
 * (ops ratio >= 0.87). The schemes and keys are the crypto tests' (`test/support/crypto/`).
 * CMS SignedData (`cms-rsa-sha256`) is measured next to the bare RSA signature and check it wraps,
 * with the CMS tests' certificates (a root, an intermediate sent along, the signer).
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
  X509Certificate,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DateTime } from "luxon";
import { sm2 } from "sm-crypto-v2";
import { Bench } from "tinybench";
import type { BenchComparison } from "../../../bench/run.ts";
import { cmsSign, cmsVerify } from "../src/crypto/cms/cms-signed-data.ts";
import { mirrorCryptoOptions, type PartnerKeySet } from "../src/crypto/configurable/mirror.ts";
import type { ConfigurableCryptoOptions } from "../src/crypto/configurable/options.ts";
import type { CryptoHandler } from "../src/crypto/handler.ts";
import { createCryptoHandlerRegistry } from "../src/crypto/handler-registry.ts";
import { createDefaultSecretResolver } from "../src/crypto/secret-resolvers.ts";
import { createSm2Decrypt } from "../src/crypto/sm2-decrypt.ts";
import type { Codec } from "../src/message/codec.ts";
import { formCodec as form, jsonCodec as json } from "../test/support/crypto/codecs.ts";
import {
  jadeOptions,
  jadePartnerKeys,
  lanbankOptions,
  lanbankPartnerKeys,
  meadowSharedKey as md5Key,
  meadowOptions,
} from "../test/support/crypto/schemes.ts";
import { partner, platform, sm2Partner, sm2Platform } from "../test/support/crypto/test-keys.ts";

/** A 20-field business body, the size of a typical loan application. */
const body: Record<string, string> = {};
for (let i = 0; i < 20; i++)
  body[`field_${String(i).padStart(2, "0")}`] = `value-${i}-${"x".repeat(12)}`;

const lanbank = lanbankOptions();
const meadow = meadowOptions();
const jade = jadeOptions();

async function pair(
  options: ConfigurableCryptoOptions,
  partnerKeys: PartnerKeySet,
): Promise<[CryptoHandler, CryptoHandler]> {
  const registry = createCryptoHandlerRegistry();
  const deps = { secrets: createDefaultSecretResolver({ allowInline: true }) };
  return [
    await registry.create(
      { handler: "configurable", options: options as Record<string, unknown> },
      deps,
    ),
    await registry.create(
      {
        handler: "configurable",
        options: mirrorCryptoOptions(options, partnerKeys) as Record<string, unknown>,
      },
      deps,
    ),
  ];
}

function signAsync(alg: string, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((res, rej) => sign(alg, data, key, (e, s) => (e ? rej(e) : res(s))));
}
function verifyAsync(alg: string, data: Buffer, key: KeyObject, sig: Buffer): Promise<boolean> {
  return new Promise((res) => verify(alg, data, key, sig, (e, ok) => res(!e && ok)));
}
function sorted(fields: Record<string, string>, skip: string[]): string {
  return Object.keys(fields)
    .sort()
    .filter((k) => !skip.includes(k) && fields[k] !== "")
    .map((k) => `${k}=${fields[k]}`)
    .join("&");
}
function nonce(): string {
  return randomBytes(24).toString("base64url").slice(0, 32);
}

/** Lanbank by hand: AES-256-GCM, RSA PKCS#1 v1.5 wrap, SHA256withRSA over the sorted envelope. */
async function lanbankRaw(): Promise<void> {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ct = Buffer.concat([
    iv,
    cipher.update(JSON.stringify(body)),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const envelope: Record<string, string> = {
    data: ct.toString("base64"),
    key: publicEncrypt(
      { key: partner.publicKey, padding: constants.RSA_PKCS1_PADDING },
      key,
    ).toString("base64"),
    app_id: "capflow-demo",
    sign_type: "RSA2",
    timestamp: String(Date.now()),
    nonce: nonce(),
  };
  envelope.sign = (
    await signAsync("sha256", Buffer.from(sorted(envelope, ["sign"])), platform.privateKey)
  ).toString("base64");
  const wire = JSON.stringify(envelope);
  // Partner side.
  const got = JSON.parse(wire) as Record<string, string>;
  const ok = await verifyAsync(
    "sha256",
    Buffer.from(sorted(got, ["sign"])),
    platform.publicKey,
    Buffer.from(got.sign ?? "", "base64"),
  );
  if (!ok) throw new Error("verify");
  const em = privateDecrypt(
    { key: partner.privateKey, padding: constants.RSA_NO_PADDING },
    Buffer.from(got.key ?? "", "base64"),
  );
  const unwrapped = em.subarray(em.length - 32);
  const data = Buffer.from(got.data ?? "", "base64");
  const decipher = createDecipheriv("aes-256-gcm", unwrapped, data.subarray(0, 12));
  decipher.setAuthTag(data.subarray(data.length - 16));
  JSON.parse(
    Buffer.concat([
      decipher.update(data.subarray(12, data.length - 16)),
      decipher.final(),
    ]).toString(),
  );
}

/** Meadow by hand: MD5 over sorted fields + &key=, form encoding, constant-time compare. */
function meadowRaw(): void {
  const fields: Record<string, string> = { ...body, sign_type: "MD5", nonce_str: nonce() };
  fields.sign = createHash("md5")
    .update(`${sorted(fields, ["sign", "sign_type"])}&key=${md5Key}`)
    .digest("hex")
    .toUpperCase();
  const wire = new URLSearchParams(fields).toString();
  const got = Object.fromEntries(new URLSearchParams(wire));
  const expected = createHash("md5")
    .update(`${sorted(got, ["sign", "sign_type"])}&key=${md5Key}`)
    .digest();
  if (!timingSafeEqual(expected, Buffer.from(got.sign ?? "", "hex"))) throw new Error("verify");
}

const sm2PartnerPoint = sm2.precomputePublicKey(sm2Partner.publicKey);
const sm2PlatformPoint = sm2.precomputePublicKey(sm2Platform.publicKey);

const sm2PartnerDecrypt = createSm2Decrypt(sm2Partner.privateKey);
const sm2Sample = sm2.doEncrypt(randomBytes(16), sm2PartnerPoint, 1);

/**
 * Jade-trust by hand: SM2 sign over the plaintext and the timestamp (yyyyMMddHHmmss in
 * Asia/Shanghai), SM4-CBC, SM2 C1C3C2 wrap with the 04 point prefix (OpenSSL-backed unwrap).
 */
function jadeRaw(): void {
  const plain = JSON.stringify(body);
  const timestamp = DateTime.now().setZone("Asia/Shanghai").toFormat("yyyyMMddHHmmss");
  const signature = sm2.doSignature(Buffer.from(`${plain}\n${timestamp}`), sm2Platform.privateKey, {
    hash: true,
    publicKey: sm2Platform.publicKey,
  });
  const key = randomBytes(16);
  const iv = randomBytes(16);
  const cipher = createCipheriv("sm4-cbc", key, iv);
  const envelope = {
    encryptData: Buffer.concat([iv, cipher.update(plain), cipher.final()]).toString("base64"),
    encryptKey: Buffer.from(`04${sm2.doEncrypt(key, sm2PartnerPoint, 1)}`, "hex").toString(
      "base64",
    ),
    version: "1.0",
    timestamp,
    signData: signature,
  };
  const wire = JSON.stringify(envelope);
  const got = JSON.parse(wire) as typeof envelope;
  const wrapped = Buffer.from(got.encryptKey, "base64");
  const unwrapped = sm2PartnerDecrypt(
    wrapped.subarray(1, 65),
    wrapped.subarray(65, 97),
    wrapped.subarray(97),
  );
  if (unwrapped === undefined) throw new Error("unwrap");
  const data = Buffer.from(got.encryptData, "base64");
  const decipher = createDecipheriv("sm4-cbc", unwrapped, data.subarray(0, 16));
  const text = Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]).toString();
  if (
    !sm2.doVerifySignature(
      Buffer.from(`${text}\n${got.timestamp}`),
      got.signData,
      sm2PlatformPoint,
      {
        hash: true,
      },
    )
  )
    throw new Error("verify");
  JSON.parse(text);
}

/** A bank's signing certificate, its issuing CA sent along, its root trusted. */
const cmsFixture = (name: string) =>
  readFileSync(join(import.meta.dirname, "../test/crypto/cms/fixtures/rsa-signer", name), "utf8");
const cmsSigner = {
  key: createPrivateKey(cmsFixture("signer-key.pem")),
  cert: new X509Certificate(cmsFixture("signer.pem")),
  chain: [new X509Certificate(cmsFixture("intermediate.pem"))],
  root: new X509Certificate(cmsFixture("root.pem")),
};
const cmsAt = new Date(Date.UTC(2026, 11, 6, 8, 0, 0));
const cmsData = Buffer.from(`<?xml version="1.0"?><body>${JSON.stringify(body)}</body>`);
const cmsSigned = await cmsSign(cmsData, cmsSigner.key, cmsSigner.cert, {
  now: cmsAt,
  chain: cmsSigner.chain,
});
const rsaSigned = await signAsync("sha256", cmsData, cmsSigner.key);
const cmsSignerPublicKey = cmsSigner.cert.publicKey;

export const comparisons: BenchComparison[] = [
  {
    measured: "cms-rsa-sha256 sign (detached, signed attributes, chain)",
    baseline: "primitive: RSA-2048 SHA256 sign (async)",
  },
  {
    measured: "cms-rsa-sha256 verify (signature, path to the root)",
    baseline: "primitive: RSA-2048 SHA256 verify (async)",
  },
  { measured: "lanbank handler seal+open", baseline: "lanbank raw node:crypto", atLeast: 0.87 },
  { measured: "meadow handler seal+open", baseline: "meadow raw node:crypto", atLeast: 0.87 },
  {
    measured: "jade-trust handler seal+open",
    baseline: "jade-trust raw sm-crypto-v2 + node sm4",
    atLeast: 0.87,
  },
  {
    measured: "primitive: SM2 decrypt 16-byte key (OpenSSL ECDH + SM3)",
    baseline: "primitive: SM2 decrypt 16-byte key (sm-crypto-v2)",
  },
];

/** The measured functions by task name (also used for quick profiling outside tinybench). */
export async function cryptoBenchTasks(): Promise<Record<string, () => unknown>> {
  const [lanbankClient, lanbankMock] = await pair(lanbank, lanbankPartnerKeys);
  const [meadowClient, meadowMock] = await pair(meadow, {});
  const [jadeClient, jadeMock] = await pair(jade, jadePartnerKeys);
  const request = (codec: Codec) => ({
    method: "POST" as const,
    path: "/loan/apply",
    headers: {},
    query: {},
    body,
    codec,
  });
  return {
    "lanbank handler seal+open": async () => {
      await lanbankMock.openRequest(await lanbankClient.sealRequest(request(json)), json);
    },
    "lanbank raw node:crypto": lanbankRaw,
    "meadow handler seal+open": async () => {
      await meadowMock.openRequest(await meadowClient.sealRequest(request(form)), form);
    },
    "meadow raw node:crypto": meadowRaw,
    "jade-trust handler seal+open": async () => {
      await jadeMock.openRequest(await jadeClient.sealRequest(request(json)), json);
    },
    "jade-trust raw sm-crypto-v2 + node sm4": jadeRaw,
    "primitive: RSA-2048 SHA256 sign (async)": () =>
      signAsync("sha256", Buffer.from("x".repeat(600)), platform.privateKey),
    "primitive: RSA-2048 SHA256 verify (async)": async () => {
      if (!(await verifyAsync("sha256", cmsData, cmsSignerPublicKey, rsaSigned))) {
        throw new Error("verify");
      }
    },
    "cms-rsa-sha256 sign (detached, signed attributes, chain)": () =>
      cmsSign(cmsData, cmsSigner.key, cmsSigner.cert, { now: cmsAt, chain: cmsSigner.chain }),
    "cms-rsa-sha256 verify (signature, path to the root)": async () => {
      const result = await cmsVerify(cmsSigned, cmsData, {
        trustAnchors: [cmsSigner.root],
        at: cmsAt,
      });
      if (!result.ok) throw new Error(result.reason);
    },
    "primitive: SM2 sign (sm-crypto-v2)": () => {
      sm2.doSignature("x".repeat(600), sm2Platform.privateKey, {
        hash: true,
        publicKey: sm2Platform.publicKey,
      });
    },
    "primitive: SM2 decrypt 16-byte key (sm-crypto-v2)": () => {
      sm2.doDecrypt(sm2Sample, sm2Partner.privateKey, 1, { output: "array" });
    },
    "primitive: SM2 decrypt 16-byte key (OpenSSL ECDH + SM3)": () => {
      const bytes = Buffer.from(sm2Sample, "hex");
      sm2PartnerDecrypt(bytes.subarray(0, 64), bytes.subarray(64, 96), bytes.subarray(96));
    },
    "primitive: SM2 verify (sm-crypto-v2, precomputed key)": () => {
      sm2.doVerifySignature("abc", sm2VerifySample, sm2PlatformPoint, { hash: true });
    },
  };
}

/** Handler and raw baseline differ by a few percent: five short rounds, median ratio. */
export const rounds = 5;

export default async function cryptoBench(): Promise<Bench> {
  const bench = new Bench({ time: 600, warmupTime: 200 });
  for (const [name, fn] of Object.entries(await cryptoBenchTasks()))
    bench.add(name, fn as () => Promise<void>);
  return bench;
}

const sm2VerifySample = sm2.doSignature("abc", sm2Platform.privateKey, {
  hash: true,
  publicKey: sm2Platform.publicKey,
});
