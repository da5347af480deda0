import { fileURLToPath } from "node:url";

/** The RSA-2048 key pairs of the end-to-end bench: Lan Bank's test keys (examples/lanbank/keys). */
const keysDir = fileURLToPath(new URL("../../examples/lanbank/keys/", import.meta.url));

export const e2eKeyFiles = {
  keysDir,
  platformPrivate: `${keysDir}platform-private.pem`,
  platformPublic: `${keysDir}platform-public.pem`,
  funderPrivate: `${keysDir}partner-private.pem`,
  funderPublic: `${keysDir}partner-public.pem`,
};
