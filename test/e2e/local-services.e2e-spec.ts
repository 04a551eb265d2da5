import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';

const SCRIPT = join(process.cwd(), 'scripts/local-services.sh');
// The plain tools the script uses; everything about PostgreSQL and Redis is faked.
const TOOLS = ['awk', 'bash', 'grep', 'mkdir', 'seq', 'sleep', 'timeout', 'touch', 'cat'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * scripts/local-services.sh (scripts/start, the demo and CI run it) with fake
 * pg_isready, pg_lsclusters, pg_ctlcluster, redis-cli and redis-server on a PATH
 * that holds nothing else of PostgreSQL or Redis: its decisions are checked
 * without stopping or starting the machine's real servers, which other suites use.
 */
describe('scripts/local-services.sh: PostgreSQL and Redis for scripts/start and the demo', () => {
  let dir: string;
  let bin: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixbatch-services-'));
    bin = join(dir, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node'));
    for (const tool of TOOLS) await symlink(await which(tool), join(bin, tool));
    // Root, so pg_ctlcluster is run directly (sudo is not on this PATH).
    await fake('id', '[ "$1" = -un ] && echo root || echo 0');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function which(tool: string): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile('bash', ['-c', `command -v ${tool}`], (error, stdout) =>
        error ? reject(new Error(`${tool} is not installed`)) : resolve(stdout.trim()),
      ),
    );
  }

  async function fake(name: string, body: string): Promise<void> {
    await writeFile(join(bin, name), `#!${await which('bash')}\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  }

  /** Each fake server "answers" once its flag file exists; its start command makes the file and logs its arguments. */
  async function installed(server: 'postgres' | 'redis', running: boolean): Promise<void> {
    const flag = join(dir, `${server}.up`);
    if (running) await writeFile(flag, '');
    if (server === 'postgres') {
      await fake('pg_isready', `[ -e ${flag} ]`);
      await fake('pg_lsclusters', `echo "16 main 5433 down postgres /x /y"; echo "15 main 54329 down postgres /x /y"`);
      await fake('pg_ctlcluster', `echo "$@" >> ${join(dir, 'pg_ctlcluster.log')}; touch ${flag}`);
    } else {
      await fake('redis-cli', `[ -e ${flag} ] && echo PONG || echo "Could not connect"`);
      await fake('redis-server', `echo "$@" >> ${join(dir, 'redis-server.log')}; touch ${flag}`);
    }
  }

  function ensure(env: Record<string, string>): Promise<Run> {
    return new Promise((resolve) =>
      execFile(
        join(bin, 'bash'),
        ['-c', `set -euo pipefail; source ${SCRIPT}; ensure_local_services`],
        {
          cwd: dir,
          env: {
            PATH: bin,
            // Started from a shell, as the scripts are: bash reads ~/.bashrc when a first-level shell's stdin is a socket.
            SHLVL: '1',
            DATABASE_URL: 'postgresql://postgres@127.0.0.1:54329/pixbatch',
            REDIS_URL: 'redis://127.0.0.1:63799',
            ...env,
          },
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      ),
    );
  }

  const log = (name: string) => readFile(join(dir, `${name}.log`), 'utf8').catch(() => '');

  it('starts nothing when both answer', async () => {
    await installed('postgres', true);
    await installed('redis', true);
    const run = await ensure({});
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('PostgreSQL (127.0.0.1:54329) and Redis (127.0.0.1:63799) answer');
    expect(await log('pg_ctlcluster')).toBe('');
    expect(await log('redis-server')).toBe('');
  });

  it('starts the stopped PostgreSQL cluster of the URL port and a Redis on the URL port, then goes on', async () => {
    await installed('postgres', false);
    await installed('redis', false);
    const run = await ensure({});
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('PostgreSQL is installed but not running; starting cluster 15/main');
    expect(run.stdout).toContain('Redis is installed but not running; starting redis-server on 127.0.0.1:63799');
    expect(await log('pg_ctlcluster')).toBe('--skip-systemctl-redirect 15 main start\n');
    expect(await log('redis-server')).toMatch(
      /^--daemonize yes --bind 127\.0\.0\.1 -::1 --port 63799 --dir \S+\/data\/redis /,
    );
  });

  it('names the one command that installs what is missing, and stops', async () => {
    await fake('pg_isready', 'exit 2');
    await fake('redis-cli', 'echo "Could not connect"');
    await fake('apt-get', 'exit 0');
    const run = await ensure({});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PostgreSQL and Redis are not installed on this machine. Install them with:');
    expect(run.stderr).toContain('  sudo apt-get install -y postgresql redis-server');
    expect(run.stderr).toContain('Compose on a laptop');

    await installed('redis', true);
    const one = await ensure({});
    expect(one.code).toBe(1);
    expect(one.stderr).toContain('PostgreSQL is not installed on this machine. Install it with:');
    expect(one.stderr).toContain('  sudo apt-get install -y postgresql\n');
  });

  it('explains a PostgreSQL that answers but wants a password, as a fresh Debian cluster does', async () => {
    await installed('postgres', true);
    await installed('redis', true);
    await fake(
      'psql',
      'echo \'psql: error: connection to server at "127.0.0.1", port 54329 failed: fe_sendauth: no password supplied\' >&2; exit 2',
    );
    const run = await ensure({});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("PostgreSQL answers but refuses DATABASE_URL's login");
    expect(run.stderr).toContain('DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54329/pixbatch');

    await fake('psql', 'exit 0');
    expect(await ensure({})).toMatchObject({ code: 0, stderr: '' });
  });

  it('only checks a server on another host, and says which setting points there', async () => {
    await installed('postgres', false);
    await installed('redis', true);
    const run = await ensure({ DATABASE_URL: 'postgresql://app@db.internal:6543/pixbatch' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PostgreSQL on db.internal:6543 does not answer (DATABASE_URL)');
    expect(await log('pg_ctlcluster')).toBe('');
  });
});
