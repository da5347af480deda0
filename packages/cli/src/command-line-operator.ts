import { userInfo } from "node:os";

/**
 * Who acts from the command line, as every command that records an operator records it (a token
 * made or revoked, a push, a reconciliation run, a difference resolved, a stop cleared, an
 * instance started, retried, moved or cancelled): `--who` when given, else this machine's user
 * name, else `$USER`, else `uid:<n>`. Containers often run under a uid with no passwd entry
 * (Kubernetes `runAsUser`, OpenShift), where the user name lookup throws: that must not stop an
 * operator from revoking a leaked token or pushing a fix. Prefixed `cli:` so a record tells it
 * apart from an operator API token's name.
 */
export function commandLineOperator(
  who?: string,
  /** The user name lookup: `os.userInfo().username`, which throws for a uid with no entry. */
  lookUpUserName: () => string = () => userInfo().username,
): string {
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
