import type { ErrorContext } from "../../errors.ts";
import type { Clock } from "../../ports/clock.ts";
import {
  type CanonicalParts,
  compileCanonicalTemplate,
  compileSortedFields,
} from "../canonicalize.ts";
import type { BinaryEncoding } from "../encoding.ts";
import { configInvalid } from "../failures.ts";
import { compileJsonMemberSelector, jsonMemberTextOf } from "../json-member.ts";
import { refusePssOnlyKey } from "../keys/pss-only-key.ts";
import { createCmsScheme } from "../signers/cms-signer.ts";
import { createDigestScheme } from "../signers/digest-signer.ts";
import { createRsaScheme } from "../signers/rsa-signer.ts";
import type { SignatureScheme } from "../signers/signature-scheme.ts";
import { createSm2Scheme } from "../signers/sm2-signer.ts";
import { defaultSm2UserId } from "../sm2.ts";
import { xmlElementText } from "../xml-element.ts";
import { compileHeaderTemplate, type HeaderTemplate } from "./header-template.ts";
import type { LoadedKeys } from "./load-keys.ts";
import type { SignaturePart } from "./options.ts";

/** A profile's signature with its scheme, canonical form and header template built once. */
export interface CompiledSignature {
  part: SignaturePart;
  scheme: SignatureScheme;
  /** How the signature bytes are written as text. */
  output: BinaryEncoding;
  /** The canonical string; undefined when the message lacks what it is made of (a JSON member). */
  canonical: (parts: CanonicalParts) => string | undefined;
  header: HeaderTemplate;
  /** Whether the canonical string contains the body text (raw body, or `{body}` in a template). */
  needsBodyText: boolean;
  /** Whether it contains `{path}` (the query string is serialised only then). */
  needsPath: boolean;
  /** Whether it reads fields of the wire object (sorted fields, `{field:x}`, a body placement). */
  needsWireFields: boolean;
  /** Signed over the plain business body (before encryption) rather than the wire message. */
  overPlain: boolean;
  /** The scheme checks the signer's certificate itself (CMS), so `keys.trust` is its business. */
  certifiesSigner: boolean;
}

export function compileSignature(
  part: SignaturePart,
  keys: LoadedKeys,
  context: ErrorContext,
  clock: Pick<Clock, "now">,
  threadPool: boolean,
): CompiledSignature {
  const alg = part.algorithm;
  let scheme: SignatureScheme;
  let output: BinaryEncoding;
  if (alg === "sm2-sm3") {
    scheme = createSm2Scheme(
      keys.signing,
      part.userId ?? defaultSm2UserId,
      part.sm2Encoding ?? "raw",
    );
    output = part.output ?? "hex";
  } else if (alg === "cms-rsa-sha256" || alg === "cms-sm2-sm3") {
    scheme = createCmsScheme(alg, keys.signing, keys.verifying, keys.trust?.trust, part, clock);
    output = part.output ?? "base64";
  } else if (alg === "rsa-sha1" || alg === "rsa-sha256" || alg === "rsa-pss-sha256") {
    if (alg !== "rsa-pss-sha256") {
      refusePssOnlyKey(keys.signing, `${alg} signing`, "/keys/signing", context);
      // Another profile of the channel may verify PSS with some of them: refused only when no
      // verifying key could ever check this profile's signatures.
      const [first] = keys.verifying;
      if (
        keys.verifying.every(
          (key) => key.kind === "public" && key.key.asymmetricKeyType === "rsa-pss",
        )
      )
        refusePssOnlyKey(first, `${alg} verification`, "/keys/verifying/0", context);
    }
    scheme = createRsaScheme(alg, keys.signing, part.saltLength ?? 32, threadPool);
    output = part.output ?? "base64";
  } else {
    if ((alg.startsWith("hmac") || part.appendKey !== undefined) && keys.secret === undefined) {
      throw configInvalid(`${alg} needs keys.secret`, context);
    }
    scheme = createDigestScheme(alg, keys.secret, part.appendKey);
    output = part.output ?? "hex-upper";
  }
  const canonicalSpec = part.canonical;
  const signatureField = part.placement.in === "body" ? part.placement.name : undefined;
  let canonical: (parts: CanonicalParts) => string | undefined;
  if (canonicalSpec.kind === "sortedFields") {
    const sortedFields = compileSortedFields(canonicalSpec, signatureField);
    canonical = (parts) => {
      if (parts.fields === undefined)
        throw configInvalid("sortedFields needs an object body", context);
      return sortedFields(parts.fields, parts.fieldsFormat === "xml");
    };
  } else if (canonicalSpec.kind === "rawBody") {
    canonical = (parts) => parts.body;
  } else if (canonicalSpec.kind === "jsonMember") {
    const matches = compileJsonMemberSelector(canonicalSpec);
    canonical = (parts) => jsonMemberTextOf(parts.body, matches);
  } else if (canonicalSpec.kind === "xmlElement") {
    const element = canonicalSpec.element;
    canonical = (parts) => xmlElementText(parts.body, element);
  } else {
    canonical = compileCanonicalTemplate(canonicalSpec.template);
  }
  const header =
    part.placement.in === "header"
      ? compileHeaderTemplate(part.placement.template ?? "{signature}", part.placement.values)
      : compileHeaderTemplate("{signature}");
  const template = canonicalSpec.kind === "template" ? canonicalSpec.template : "";
  return {
    part,
    scheme,
    output,
    canonical,
    header,
    needsBodyText:
      canonicalSpec.kind === "rawBody" ||
      canonicalSpec.kind === "jsonMember" ||
      canonicalSpec.kind === "xmlElement" ||
      template.includes("{body}"),
    needsPath: template.includes("{path}"),
    needsWireFields:
      canonicalSpec.kind === "sortedFields" ||
      template.includes("{field:") ||
      part.placement.in === "body",
    overPlain: part.over === "plain",
    certifiesSigner: alg === "cms-rsa-sha256" || alg === "cms-sm2-sm3",
  };
}
