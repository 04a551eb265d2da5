// Runs after every `npm install` (postinstall). The npm registry this project
// is built from lacks some platform builds of optional native packages (e.g.
// @msgpackr-extract/*-darwin-arm64, @unrs/resolver-binding-*), so npm leaves
// them out of package-lock.json, and `npm ci` then refuses the lock as out of
// sync. A placeholder entry marked optional satisfies `npm ci`, which skips an
// optional package it cannot fetch, exactly as it skips one for another platform.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
if (existsSync(path)) {
  const lock = JSON.parse(readFileSync(path, 'utf8'));
  let added = 0;
  for (const [location, entry] of Object.entries(lock.packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
      if (lock.packages[nested] || lock.packages[`node_modules/${name}`]) continue;
      lock.packages[`node_modules/${name}`] = { version, optional: true };
      added++;
    }
  }
  if (added > 0) {
    writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
    console.log(`package-lock.json: ${added} optional platform package(s) recorded for npm ci`);
  }
}
