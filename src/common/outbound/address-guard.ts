import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { OutboundError, OutboundErrorCode } from './outbound-error.js';

/** Resolves a host name to every address it has, like `dns.lookup` with `all: true`. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Decides whether an outbound connection to one IP address is allowed. */
export type AddressPolicy = (ip: string) => boolean;

export interface AddressGuardOptions {
  allowPrivateNetworks: boolean;
  resolver?: Resolver;
  isAllowedAddress?: AddressPolicy;
}

/** `code` of the error the guarded lookup fails with, so callers can tell it from DNS failures. */
export const BLOCKED_ADDRESS_ERROR_CODE = 'EBLOCKED';

export class BlockedAddressError extends Error {
  readonly code = BLOCKED_ADDRESS_ERROR_CODE;

  constructor(
    readonly hostname: string,
    readonly address: string,
  ) {
    super(`${hostname} resolves to ${address}, which is not a public address`);
    this.name = 'BlockedAddressError';
  }
}

// Everything outside 2000::/3 is unassigned or special-purpose (loopback,
// IPv4-compatible, discard, unique-local, link-local, multicast...), and
// ipaddr.js does not name all of those ranges.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
// On IPv6-only hosts DNS64 answers with this prefix for every IPv4-only site.
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

/**
 * True only for addresses on the public internet. IPv4-mapped and NAT64
 * addresses are judged by the IPv4 address they carry; 6to4 and Teredo, which
 * a relay would unwrap on our behalf, are refused outright.
 */
export function isPublicAddress(ip: string): boolean {
  // net.isIP accepts only canonical notations, so the shorthand forms
  // ipaddr.js also parses (`127.1`, `0x7f000001`) never count as public.
  if (isIP(ip) === 0) {
    return false;
  }
  const address = ipaddr.parse(ip);
  if (address instanceof ipaddr.IPv4) {
    return address.range() === 'unicast';
  }
  if (address.isIPv4MappedAddress() || address.match(NAT64_WELL_KNOWN)) {
    return new ipaddr.IPv4(address.toByteArray().slice(12)).range() === 'unicast';
  }
  return address.match(GLOBAL_UNICAST_V6) && address.range() === 'unicast';
}

const defaultResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true });

/**
 * A `lookup` for `net`/`http.Agent` that refuses the whole host when any of
 * its addresses is not allowed: checking only the address that gets dialled
 * would let a host mixing public and private records slip through on retry or
 * happy-eyeballs fallback.
 */
export function createGuardedLookup(options: AddressGuardOptions): LookupFunction {
  const resolve = options.resolver ?? defaultResolver;
  const isAllowed = options.isAllowedAddress ?? isPublicAddress;

  const resolveAllowed = async (hostname: string, family: number): Promise<ResolvedAddress[]> => {
    const addresses = await resolve(hostname);
    if (!options.allowPrivateNetworks) {
      const blocked = addresses.find((entry) => !isAllowed(entry.address));
      if (blocked) {
        throw new BlockedAddressError(hostname, blocked.address);
      }
    }
    const matching = family === 0 ? addresses : addresses.filter((entry) => entry.family === family);
    if (matching.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
    }
    return matching;
  };

  return (hostname, lookupOptions, callback) => {
    resolveAllowed(hostname, familyNumber(lookupOptions.family)).then(
      (addresses) => {
        if (lookupOptions.all) {
          callback(null, addresses);
        } else {
          callback(null, addresses[0].address, addresses[0].family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, lookupOptions.all ? [] : ''),
    );
  };
}

function familyNumber(family: number | 'IPv4' | 'IPv6' | undefined): number {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return family ?? 0;
}

/**
 * Node connects to IP-literal hosts without calling `lookup`, so those are
 * checked here, on every hop, along with the scheme.
 */
export function assertUrlAllowed(url: URL, allowPrivate: boolean, isAllowed: AddressPolicy = isPublicAddress): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundError(OutboundErrorCode.InvalidUrl, `Unsupported URL scheme ${url.protocol}`, false);
  }
  if (allowPrivate) {
    return;
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0 && !isAllowed(host)) {
    throw new OutboundError(OutboundErrorCode.BlockedAddress, `${host} is not a public address`, false);
  }
}
