import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

/**
 * Certificates parsed by their DER. A partner sends the same certificate and chain with every
 * message, and PKI.js's parse of them was a third of a verification's main-thread time. A parsed
 * certificate is a function of its bytes and is only read afterwards (signer lookup, path
 * validation), so concurrent verifications share it; the oldest goes past the bound.
 */
const parsedByDer = new Map<string, pkijs.Certificate>();
const parsedByDerBound = 64;
/** Larger than any certificate a partner sends (a few KB): parsed, but not kept. */
const parsedByDerMaxBytes = 16 * 1024;
/** Where `certificates` sits in a SignedData sequence when present. */
const certificatesIndex = 3;

/**
 * Takes the `certificates` field out of a SignedData's ASN.1, before PKI.js parses the rest, and
 * returns them parsed. Undefined, with nothing taken, when one of them is not an X.509
 * certificate (an attribute or other certificate format): PKI.js then parses them as before.
 */
export function takeCarriedCertificates(signedData: unknown): pkijs.Certificate[] | undefined {
  if (!(signedData instanceof asn1js.Sequence)) return undefined;
  const fields = signedData.valueBlock.value;
  // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, certificates [0]
  // OPTIONAL, crls [1] OPTIONAL, signerInfos }: `certificates` is the fourth field or absent. A
  // [0] anywhere else, or twice, is left for PKI.js to refuse as malformed, as it always did.
  const tagged = fields.flatMap((field, at) =>
    field.idBlock.tagClass === 3 && field.idBlock.tagNumber === 0 ? [at] : [],
  );
  if (tagged.length === 0) return [];
  const index = certificatesIndex;
  if (tagged.length > 1 || tagged[0] !== index) return undefined;
  const field = fields[index];
  if (!(field instanceof asn1js.Constructed)) return undefined;
  const elements = field.valueBlock.value;
  if (elements.some((item) => item.idBlock.tagClass !== 1 || item.idBlock.tagNumber !== 16)) {
    return undefined;
  }
  const certificates = elements.map((item) => parsedCertificate(item.valueBeforeDecodeView));
  fields.splice(index, 1);
  return certificates;
}

function parsedCertificate(der: Uint8Array): pkijs.Certificate {
  const name = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let certificate = parsedByDer.get(name);
  if (certificate === undefined) {
    certificate = pkijs.Certificate.fromBER(der.slice());
    if (der.byteLength > parsedByDerMaxBytes) return certificate;
    parsedByDer.set(name, certificate);
    if (parsedByDer.size > parsedByDerBound) {
      parsedByDer.delete(parsedByDer.keys().next().value as string);
    }
  }
  return certificate;
}
