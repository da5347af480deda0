import { BlockList, isIPv4, isIPv6 } from "node:net";
import { CapflowError, type OperatorRole, operatorRoles } from "@capflow/core";
import type { Operator, OperatorAuthenticator } from "./operator.ts";

export interface TrustedHeaderOptions {
  /**
   * Addresses (`10.0.0.5`) or ranges (`10.0.0.0/8`, `fd00::/8`) of the reverse proxies allowed to
   * name the operator. Headers from anyone else are ignored (they fall back to API tokens).
   */
  proxies: readonly string[];
  /** The header naming the authenticated user. Default `x-forwarded-user`. */
  userHeader?: string;
  /** The header carrying the role (`viewer`, `operator`, `admin`). Default `x-forwarded-role`. */
  roleHeader?: string;
  /**
   * The role of every user of a proxy that sends no role header. Default: none, the role header is
   * required and a request without it is refused. With a default role the role header is
   * ignored (a proxy that sends none does not strip one a user adds) unless `trustRoleHeader`.
   */
  defaultRole?: OperatorRole;
  /**
   * With `defaultRole`: the proxy sets (or removes) the role header on every request, so a role
   * it carries is believed and the default only fills in when it is absent. Default false.
   */
  trustRoleHeader?: boolean;
}

/**
 * An `OperatorAuthenticator` for an SSO reverse proxy (oauth2-proxy, an ingress with OIDC) that
 * authenticates operators and passes who they are in headers. Trusted only on connections from
 * `proxies`: anyone else sending the same headers is treated as if they had sent none. The proxy
 * must overwrite (or strip) the user and role headers on every request it forwards, so a user
 * cannot send their own; with `defaultRole`, the role header is ignored unless `trustRoleHeader`.
 */
export function trustedHeaderAuth(options: TrustedHeaderOptions): OperatorAuthenticator {
  const proxies = addressList(options.proxies);
  const userHeader = (options.userHeader ?? "x-forwarded-user").toLowerCase();
  const roleHeader = (options.roleHeader ?? "x-forwarded-role").toLowerCase();
  return (request) => {
    const peer = peerAddress(request.socket.remoteAddress);
    if (peer === undefined || !proxies.check(peer.address, peer.family)) return undefined;
    const user = single(request.headers[userHeader]);
    if (user === undefined || user === "") return undefined;
    const roleValue =
      options.defaultRole === undefined || options.trustRoleHeader === true
        ? (single(request.headers[roleHeader]) ?? options.defaultRole)
        : options.defaultRole;
    if (roleValue === undefined || !operatorRoles.includes(roleValue as OperatorRole)) {
      throw new CapflowError(
        "AUTH_REQUIRED",
        `the proxy named the user but no role capflow knows (${roleHeader}: ${operatorRoles.join(", ")})`,
      );
    }
    const operator: Operator = { name: user, role: roleValue as OperatorRole, via: "host" };
    return operator;
  };
}

function addressList(entries: readonly string[]): BlockList {
  if (entries.length === 0) {
    throw new CapflowError(
      "CONFIG_INVALID",
      "trusted headers need the addresses of the proxies that send them (proxies)",
    );
  }
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix] = entry.split("/");
    const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
    const bits = prefix === undefined ? undefined : Number(prefix);
    if (
      family === undefined ||
      (bits !== undefined &&
        (!Number.isInteger(bits) || bits < 0 || bits > (family === "ipv4" ? 32 : 128)))
    ) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.5 or 10.0.0.0/8)`,
      );
    }
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, bits, family);
  }
  return list;
}

function peerAddress(
  address: string | undefined,
): { address: string; family: "ipv4" | "ipv6" } | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return { address: mapped, family: "ipv4" };
  if (isIPv4(address)) return { address, family: "ipv4" };
  if (isIPv6(address)) return { address, family: "ipv6" };
  return undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value?.trim();
}
