import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EntityManager } from '@mikro-orm/postgresql';
import { seedRequest } from '../factories/request.factory.js';
import { startTestApp, TestApp } from '../support/test-app.js';

// The compiled CLI, as `npx pixbatch` runs it (npm test runs after npm run build).
const CLI = join(process.cwd(), 'dist/src/cli/main.js');
// A tenant of its own: the suites share one database.
const KEY = `cli-list-${randomUUID().slice(0, 8)}`;
const TENANT = `t-${KEY}`;

describe('pixbatch list', () => {
  let testApp: TestApp;
  let env: Record<string, string>;
  const ids: string[] = [];

  function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  beforeAll(async () => {
    testApp = await startTestApp({ API_KEYS: `${TENANT}:${KEY}` });
    await testApp.app.listen(0, '127.0.0.1');
    const em = testApp.app.get(EntityManager).fork();
    for (const [index, status] of ['completed', 'failed', 'processing'].entries()) {
      const { requestId } = await seedRequest(em, [1]);
      await em.execute('UPDATE processing_request SET tenant = ?, status = ?, created_at = ? WHERE id = ?', [
        TENANT,
        status,
        `2026-02-0${index + 1}T00:00:00Z`,
        requestId,
      ]);
      ids.push(requestId);
    }
    const inherited = { ...process.env };
    delete inherited.NODE_OPTIONS;
    env = { ...(inherited as Record<string, string>), PIXBATCH_URL: await testApp.app.getUrl(), PIXBATCH_API_KEY: KEY };
  });

  afterAll(async () => {
    await testApp?.app.get(EntityManager).fork().execute('DELETE FROM processing_request WHERE tenant = ?', [TENANT]);
    await testApp?.close();
  });

  it('prints the newest first, one line each, and how to get the next page', async () => {
    const first = await cli(['list', '--limit', '2']);
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${ids[2]}\\s+processing\\s+0%\\s+2026-02-03T00:00:00.000Z\\s+seed.csv$`));
    expect(lines[1]).toContain(ids[1]);
    expect(lines[2]).toBe('2 shown, 3 in all');
    const cursor = /--cursor (\S+)/.exec(lines[3])?.[1];
    expect(cursor).toBeDefined();
    const second = await cli(['list', '--limit', '2', '--cursor', cursor!]);
    expect(second.stdout.trim().split('\n')).toEqual([expect.stringContaining(ids[0]), '1 shown, 3 in all']);
  });

  it('filters by status, and exits 1 on a bad option with the API’s problem', async () => {
    const filtered = await cli(['list', '--status', 'completed,failed']);
    expect(filtered.stdout).not.toContain(ids[2]);
    expect(filtered.stdout).toContain(ids[0]);
    expect(filtered.stdout).toMatch(/^\d+ shown, \d+ in all with status completed,failed$/m);
    const refused = await cli(['list', '--status', 'done']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('VALIDATION_FAILED');
    expect((await cli(['list', '--limit', '500'])).code).toBe(1);
  });
});
