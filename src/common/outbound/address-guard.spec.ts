import type { LookupFunction } from 'node:net';
import { OutboundError, OutboundErrorCode } from './outbound-error.js';
import {
  BLOCKED_ADDRESS_ERROR_CODE,
  type ResolvedAddress,
  assertUrlAllowed,
  createGuardedLookup,
  isPublicAddress,
} from './address-guard.js';

describe('isPublicAddress', () => {
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '2606:4700::1111',
    '2a00:1450:4001:82a::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('allows %s', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with zone'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of link-local'],
    ['64:ff9b:1::808:808', 'local-use NAT64 prefix'],
    ['2002:7f00:1::1', '6to4'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'discard'],
    ['127.1', 'shorthand, not an address Node would dial'],
    ['2130706433', 'integer notation'],
    ['localhost', 'a host name'],
    ['', 'empty'],
  ])('blocks %s (%s)', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });
});

describe('assertUrlAllowed', () => {
  const codeOf = (url: string, allowPrivate = false): string | undefined => {
    try {
      assertUrlAllowed(new URL(url), allowPrivate);
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(OutboundError);
      expect((error as OutboundError).transient).toBe(false);
      return (error as OutboundError).code;
    }
  };

  it.each([
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://0x7f.1/',
    'http://127.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fe80::1]/',
    'https://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1:8080/a.jpg',
  ])('blocks the IP literal in %s', (url) => {
    expect(codeOf(url)).toBe(OutboundErrorCode.BlockedAddress);
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/a.jpg', 'data:image/png;base64,AAAA', 'gopher://127.0.0.1/'])(
    'rejects the scheme of %s even when private networks are allowed',
    (url) => {
      expect(codeOf(url, true)).toBe(OutboundErrorCode.InvalidUrl);
    },
  );

  it.each(['http://8.8.8.8/a.jpg', 'https://[2606:4700::1111]/a.jpg', 'https://images.example.com/a.jpg'])(
    'allows %s (host names are checked at lookup)',
    (url) => {
      expect(codeOf(url)).toBeUndefined();
    },
  );

  it('allows private literals when private networks are allowed', () => {
    expect(codeOf('http://127.0.0.1:8080/a.jpg', true)).toBeUndefined();
  });

  it('applies a custom address policy', () => {
    const onlyFirstLoopback = (ip: string): boolean => ip === '127.0.0.1';
    expect(() => assertUrlAllowed(new URL('http://127.0.0.1/'), false, onlyFirstLoopback)).not.toThrow();
    expect(() => assertUrlAllowed(new URL('http://127.0.0.2/'), false, onlyFirstLoopback)).toThrow(OutboundError);
  });
});

describe('createGuardedLookup', () => {
  const records: Record<string, ResolvedAddress[]> = {
    'public.test': [
      { address: '2606:4700::1111', family: 6 },
      { address: '8.8.8.8', family: 4 },
    ],
    'mixed.test': [
      { address: '8.8.8.8', family: 4 },
      { address: '10.0.0.1', family: 4 },
    ],
    'v6only.test': [{ address: '2606:4700::1111', family: 6 }],
  };
  const resolver = (hostname: string): Promise<ResolvedAddress[]> => {
    const found = records[hostname];
    if (!found) {
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    }
    return Promise.resolve(found);
  };

  type Outcome = { error: NodeJS.ErrnoException | null; address: unknown; family?: number };
  const run = (lookup: LookupFunction, hostname: string, options: Parameters<LookupFunction>[1]): Promise<Outcome> =>
    new Promise((resolve) =>
      lookup(hostname, options, (error, address, family) => resolve({ error, address, family })),
    );

  const guarded = createGuardedLookup({ allowPrivateNetworks: false, resolver });

  it('answers with every address when asked for all', async () => {
    const outcome = await run(guarded, 'public.test', { all: true });
    expect(outcome.error).toBeNull();
    expect(outcome.address).toEqual(records['public.test']);
  });

  it('answers with the first address and its family otherwise', async () => {
    const outcome = await run(guarded, 'public.test', {});
    expect(outcome).toEqual({ error: null, address: '2606:4700::1111', family: 6 });
  });

  it.each([
    [4, '8.8.8.8'],
    ['IPv4', '8.8.8.8'],
    [6, '2606:4700::1111'],
  ] as const)('filters by family %s', async (family, expected) => {
    const outcome = await run(guarded, 'public.test', { family });
    expect(outcome.address).toBe(expected);
    expect(outcome.family).toBe(expected.includes(':') ? 6 : 4);
  });

  it('fails with ENOTFOUND when no address has the wanted family', async () => {
    const outcome = await run(guarded, 'v6only.test', { family: 4, all: true });
    expect(outcome.error?.code).toBe('ENOTFOUND');
  });

  it('refuses a host when any of its addresses is not public', async () => {
    const outcome = await run(guarded, 'mixed.test', { all: true });
    expect(outcome.error?.code).toBe(BLOCKED_ADDRESS_ERROR_CODE);
    expect(outcome.error?.message).toContain('10.0.0.1');
  });

  it('passes resolver errors through', async () => {
    const outcome = await run(guarded, 'missing.test', {});
    expect(outcome.error?.code).toBe('ENOTFOUND');
  });

  it('lets private addresses through when private networks are allowed', async () => {
    const open = createGuardedLookup({ allowPrivateNetworks: true, resolver });
    const outcome = await run(open, 'mixed.test', { all: true });
    expect(outcome.error).toBeNull();
    expect(outcome.address).toEqual(records['mixed.test']);
  });

  it('resolves with dns.lookup by default and blocks localhost', async () => {
    const outcome = await run(createGuardedLookup({ allowPrivateNetworks: false }), 'localhost', { all: true });
    expect(outcome.error?.code).toBe(BLOCKED_ADDRESS_ERROR_CODE);
  });
});
