import { userInfo } from "node:os";

/**
 * Who acts from the command line, as recorded with a token made or revoked there: `--who` when
 * given, else this machine's user name, else `$USER`, else `uid:<n>`. Containers often run under
 * a uid with no passwd entry (Kubernetes `runAsUser`, OpenShift), where the user name lookup
 * throws: that must not stop an operator from revoking a leaked token. Prefixed `cli:` so the
 * listing tells it apart from an operator API token's name.
 */
export function commandLineOperator(
  who?: string,
  /** The user name lookup: `os.userInfo().username`, which throws for a uid with no entry. */
  lookUpUserName: () => string = () => userInfo().username,
): string {
  return `cli:${who ?? systemUserName(lookUpUserName)}`;
}

function systemUserName(lookUpUserName: () => string): string {
  try {
    return lookUpUserName();
  } catch {
    const fromEnvironment = process.env.USER?.trim();
    if (fromEnvironment) return fromEnvironment;
    return `uid:${process.getuid?.() ?? "unknown"}`;
  }
}
