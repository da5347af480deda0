import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type * as Forge from "node-forge";

// node-forge is CommonJS without named-export hints; require it rather than rely on interop.
const forge = createRequire(import.meta.url)("node-forge") as typeof Forge;

/** A PEM key and certificate, as `https.createServer` and a channel's `tls` settings take them. */
export interface IssuedCertificate {
  /** PKCS#8 PEM private key. */
  readonly key: string;
  readonly cert: string;
  /** The key, certificate and issuing CA as a PKCS#12 file (3DES, as bank-issued files often are). */
  pkcs12(password: string): Buffer;
}

export interface IssueOptions {
  /** A certificate whose validity ended yesterday, to test what an expired certificate does. */
  readonly expired?: boolean;
  /** Days from now until it expires (not with `expired`). Default 30. */
  readonly validForDays?: number;
}

/**
 * A throw-away certificate authority for tests of mutual TLS: a server certificate for the mock
 * funder and client certificates for channels. Keys come from node:crypto (fast); node-forge only
 * assembles and signs the X.509 structures, which node:crypto cannot. Never use outside tests.
 */
export class TestCertificateAuthority {
  /** The CA certificate (PEM): a channel's `tls.ca`, or the mock funder's `tls.clientCa`. */
  readonly cert: string;
  readonly #key: Forge.pki.rsa.PrivateKey;
  readonly #certificate: Forge.pki.Certificate;

  constructor(commonName = "capflow test CA") {
    const keys = newKeyPair();
    this.#key = keys.privateKey;
    this.#certificate = this.#sign(commonName, keys.publicKey, { ca: true }, true);
    this.cert = forge.pki.certificateToPem(this.#certificate);
  }

  /** A server certificate for loopback: `127.0.0.1`, `::1` and `localhost` unless names are given. */
  issueServer(
    names: readonly string[] = ["127.0.0.1", "::1", "localhost"],
    options?: IssueOptions,
  ): IssuedCertificate {
    return this.#issue(names[0] ?? "server", names, options);
  }

  /** A client certificate whose subject common name is `commonName`. */
  issueClient(commonName: string, options?: IssueOptions): IssuedCertificate {
    return this.#issue(commonName, [], options);
  }

  #issue(
    commonName: string,
    names: readonly string[],
    options: IssueOptions = {},
  ): IssuedCertificate {
    const keys = newKeyPair();
    const certificate = this.#sign(commonName, keys.publicKey, { names, ...options }, false);
    const caCertificate = this.#certificate;
    return {
      key: keys.pem,
      cert: forge.pki.certificateToPem(certificate),
      pkcs12(password: string): Buffer {
        const asn1 = forge.pkcs12.toPkcs12Asn1(
          keys.privateKey,
          [certificate, caCertificate],
          password,
          { algorithm: "3des" },
        );
        return Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary");
      },
    };
  }

  #sign(
    commonName: string,
    publicKey: Forge.pki.rsa.PublicKey,
    options: { ca?: boolean; names?: readonly string[]; expired?: boolean; validForDays?: number },
    selfSigned: boolean,
  ): Forge.pki.Certificate {
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = publicKey;
    // Positive and unique: a leading 0x01 keeps the DER integer from reading as negative.
    certificate.serialNumber = `01${randomBytes(8).toString("hex")}`;
    const day = 86_400_000;
    const now = Date.now();
    certificate.validity.notBefore = new Date(now - (options.expired ? 30 * day : day));
    certificate.validity.notAfter = new Date(
      now + (options.expired ? -day : (options.validForDays ?? 30) * day),
    );
    const subject = [{ name: "commonName", value: commonName }];
    certificate.setSubject(subject);
    certificate.setIssuer(selfSigned ? subject : this.#certificate.subject.attributes);
    const extensions: object[] = [{ name: "basicConstraints", cA: options.ca === true }];
    if (options.ca) extensions.push({ name: "keyUsage", keyCertSign: true, cRLSign: true });
    if (options.names !== undefined && options.names.length > 0) {
      extensions.push({
        name: "subjectAltName",
        altNames: options.names.map((name) =>
          /^[\d.]+$|:/.test(name) ? { type: 7, ip: name } : { type: 2, value: name },
        ),
      });
    }
    certificate.setExtensions(extensions);
    certificate.sign(this.#key, forge.md.sha256.create());
    return certificate;
  }
}

function newKeyPair(): {
  pem: string;
  privateKey: Forge.pki.rsa.PrivateKey;
  publicKey: Forge.pki.rsa.PublicKey;
} {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return {
    pem: privateKey,
    privateKey: forge.pki.privateKeyFromPem(privateKey) as Forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey) as Forge.pki.rsa.PublicKey,
  };
}
