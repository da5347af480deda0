import { createRequire } from "node:module";

// ipaddr.js is CommonJS with `export =` types; require keeps its runtime value and types.
const ipaddr = createRequire(import.meta.url)("ipaddr.js") as typeof import("ipaddr.js");
type IPv4 = import("ipaddr.js").IPv4;
type IPv6 = import("ipaddr.js").IPv6;

/**
 * An IP allow-list of CIDRs, IPv4 and IPv6 alike. An IPv4 address seen as IPv4-mapped IPv6
 * (`::ffff:10.1.2.3`, what a dual-stack socket reports) matches IPv4 ranges.
 */
export interface IpAllowList {
  allows(address: string): boolean;
}

/** Why an entry of an allow-list is not a CIDR or an address, or undefined when it is one. */
export function cidrProblem(entry: string): string | undefined {
  try {
    parseEntry(entry);
    return undefined;
  } catch {
    return `"${entry}" is not an IP address or a CIDR; write e.g. "10.1.0.0/16", "192.0.2.7" or "2001:db8::/32"`;
  }
}

/** Compiles the entries once; throws a TypeError for an entry {@link cidrProblem} refuses. */
export function compileIpAllowList(entries: readonly string[]): IpAllowList {
  const ranges = entries.map(parseEntry);
  return {
    allows(address) {
      let parsed: IPv4 | IPv6;
      try {
        parsed = ipaddr.process(address);
      } catch {
        return false;
      }
      return ranges.some(([range, bits]) => {
        if (range.kind() !== parsed.kind()) return false;
        return parsed.match(range, bits);
      });
    },
  };
}

function parseEntry(entry: string): [IPv4 | IPv6, number] {
  if (entry.includes("/")) {
    const [range, bits] = ipaddr.parseCIDR(entry);
    // "10.1.2.3/16" is a typo for "10.1.0.0/16" more often than a wish: refuse host bits.
    const network =
      range.kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(entry)
        : ipaddr.IPv6.networkAddressFromCIDR(entry);
    if (network.toString() !== range.toString()) throw new TypeError("host bits set");
    const mapped = range.kind() === "ipv6" && (range as IPv6).isIPv4MappedAddress();
    return mapped && bits >= 96 ? [(range as IPv6).toIPv4Address(), bits - 96] : [range, bits];
  }
  if (!ipaddr.isValid(entry)) throw new TypeError("not an address");
  const address = ipaddr.process(entry);
  return [address, address.kind() === "ipv4" ? 32 : 128];
}
