import { userInfo } from "node:os";
import { CapflowError } from "@capflow/core";

/**
 * Who acts from the command line, as every command that records an operator records it (a token
 * made or revoked, a push, a reconciliation run, a difference resolved, a stop cleared, an
 * instance started, retried, moved or cancelled): `--who` when given, else this machine's user
 * name, else `$USER`, else `uid:<n>`. Containers often run under a uid with no passwd entry
 * (Kubernetes `runAsUser`, OpenShift), where the user name lookup throws: that must not stop an
 * operator from revoking a leaked token or pushing a fix. Prefixed `cli:` so a record tells it
 * apart from an operator API token's name. An empty or blank `--who` is refused: it would record
 * `cli:` and name no one.
 */
export function commandLineOperator(
  who?: string,
  /** The user name lookup: `os.userInfo().username`, which throws for a uid with no entry. */
  lookUpUserName: () => string = () => userInfo().username,
): string {
  if (who !== undefined && who.trim() === "") {
    throw new CapflowError(
      "CONFIG_INVALID",
      "--who is empty: give the name to record (--who alice), or leave --who out to record this machine's user name",
    );
  }
  return `cli:${who ?? systemUserName(lookUpUserName)}`;
}

/** The help of `--who` on a command that records who acted and defaults to this user's name. */
export const whoOptionHelp =
  "who does this (recorded as cli:<name>; default: this machine's user name)";

function systemUserName(lookUpUserName: () => string): string {
  try {
    return lookUpUserName();
  } catch {
    const fromEnvironment = process.env.USER?.trim();
    if (fromEnvironment) return fromEnvironment;
    return `uid:${process.getuid?.() ?? "unknown"}`;
  }
}
