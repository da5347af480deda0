import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** SM2 signatures in certificates use GM/T 0009's default user ID; OpenSSL needs it spelled out. */
export const sm2DistId = "distid:1234567812345678";

/** Runs the `openssl` command line in `dir`, returning stdout. Throws with its stderr on failure. */
export function openssl(args: string[], dir: string, input?: Buffer | string): Buffer {
  try {
    return execFileSync("openssl", args, {
      cwd: dir,
      ...(input === undefined ? {} : { input }),
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args.join(" ")} failed: ${stderr}`);
  }
}

export type KeyAlgorithm = "rsa" | "sm2";

export interface IssuedByOpenssl {
  /** PKCS#8 PEM private key. */
  keyPem: string;
  certPem: string;
  /** Files in the CA's folder, for `openssl` commands of the test itself. */
  keyFile: string;
  certFile: string;
}

export interface IssueOptions {
  /** `/C=CN/O=…/CN=…`, in this order in the certificate. */
  subject: string;
  ca?: boolean;
  /** `yyyyMMddHHmmssZ`; default 2020-01-01 to 2049-12-31. */
  startDate?: string;
  endDate?: string;
}

/**
 * A certificate authority on the `openssl` command line (`openssl ca`), RSA or SM2 (SM3 with the
 * default SM2 user ID), with chosen validity dates: what a bank's test environment or CFCA's
 * test CA hands out. Each instance works in its own temporary folder.
 */
export class OpensslCa {
  readonly dir: string;
  readonly algorithm: KeyAlgorithm;
  readonly root: IssuedByOpenssl;
  #count = 0;

  constructor(algorithm: KeyAlgorithm, subject: string) {
    this.algorithm = algorithm;
    this.dir = mkdtempSync(join(tmpdir(), "capflow-ca-"));
    writeFileSync(join(this.dir, "ca.cnf"), config);
    writeFileSync(join(this.dir, "index.txt"), "");
    writeFileSync(join(this.dir, "serial"), "1000\n");
    this.root = this.#issue({ subject, ca: true }, undefined);
  }

  /** A certificate signed by this CA's root (or by `issuer`, an intermediate it issued). */
  issue(options: IssueOptions, issuer: IssuedByOpenssl = this.root): IssuedByOpenssl {
    return this.#issue(options, issuer);
  }

  #issue(options: IssueOptions, issuer: IssuedByOpenssl | undefined): IssuedByOpenssl {
    const name = `c${++this.#count}`;
    const keyFile = `${name}.key`;
    const certFile = `${name}.crt`;
    const sm2 = this.algorithm === "sm2";
    openssl(
      sm2
        ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", keyFile]
        : ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile],
      this.dir,
    );
    const digest = sm2 ? ["-sm3", "-sigopt", sm2DistId] : ["-sha256"];
    openssl(
      ["req", "-new", "-key", keyFile, "-subj", options.subject, "-out", `${name}.csr`, ...digest],
      this.dir,
    );
    const signer =
      issuer === undefined
        ? ["-selfsign", "-keyfile", keyFile]
        : ["-cert", issuer.certFile, "-keyfile", issuer.keyFile];
    openssl(
      [
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        ...signer,
        "-in",
        `${name}.csr`,
        "-out",
        certFile,
        "-notext",
        "-md",
        sm2 ? "sm3" : "sha256",
        ...(sm2 ? ["-sigopt", sm2DistId, "-vfyopt", sm2DistId] : []),
        "-extensions",
        options.ca === true ? "ca_ext" : "leaf_ext",
        "-startdate",
        options.startDate ?? "20200101000000Z",
        "-enddate",
        options.endDate ?? "20491231000000Z",
      ],
      this.dir,
    );
    return {
      keyPem: readFileSync(join(this.dir, keyFile), "utf8"),
      certPem: readFileSync(join(this.dir, certFile), "utf8"),
      keyFile,
      certFile,
    };
  }
}

const config = `[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = any
preserve = yes
unique_subject = no
copy_extensions = none
[ any ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ leaf_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** An SM2 key's numbers as `openssl pkey -text` prints them: the reference for SM2 libraries. */
export function sm2KeyHex(keyFile: string, dir: string): { privateHex: string; publicHex: string } {
  const text = openssl(["pkey", "-in", keyFile, "-text", "-noout"], dir).toString();
  const block = (label: string) =>
    (new RegExp(`${label}:\\n((?:\\s+[0-9a-f:]+\\n)+)`).exec(text)?.[1] ?? "").replace(
      /[\s:]/g,
      "",
    );
  const privateHex = block("priv")
    .replace(/^00(?=[0-9a-f]{64}$)/, "")
    .padStart(64, "0");
  return { privateHex, publicHex: block("pub") };
}
