import { CapflowError } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";

/** A `--expiry-warning` value, refused at once rather than deep in the secrets check. */
export function expiryWarning(value: string): string {
  try {
    parseDuration(value);
  } catch {
    throw new CapflowError(
      "CONFIG_INVALID",
      `--expiry-warning ${JSON.stringify(value)} is not a duration; write e.g. 60d or 12h`,
    );
  }
  return value;
}
