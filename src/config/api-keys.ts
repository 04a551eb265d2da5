/** The tenant of unnamed keys, and of every request made before keys had names. */
export const DEFAULT_TENANT = 'default';

const TENANT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * `API_KEYS` as key → tenant. An entry is `name:key` or a bare `key` (the
 * default tenant); several keys may share a name, so a tenant can rotate keys
 * without losing its requests. Throws on a bad name or a key given to two
 * tenants, which would make the key's owner ambiguous.
 */
export function parseApiKeys(value: string): ReadonlyMap<string, string> {
  const keys = new Map<string, string>();
  for (const entry of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const colon = entry.indexOf(':');
    const tenant = colon === -1 ? DEFAULT_TENANT : entry.slice(0, colon).trim();
    const key = colon === -1 ? entry : entry.slice(colon + 1).trim();
    if (!TENANT_NAME.test(tenant)) throw new Error(`Invalid tenant name "${tenant}"`);
    if (!key) throw new Error(`Tenant "${tenant}" has an empty key`);
    const owner = keys.get(key);
    if (owner !== undefined && owner !== tenant) throw new Error('A key is given to two tenants');
    keys.set(key, tenant);
  }
  return keys;
}
