// The key lives for this tab only: sessionStorage, never localStorage, a cookie or a URL.
const STORAGE_KEY = 'pixbatch.apiKey';

export function readApiKey(): string | undefined {
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

export function saveApiKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function forgetApiKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
