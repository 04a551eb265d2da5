import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// In a child process, so the test runner's own threads keep their priority.
const CHILD = `
  import { readdir, readFile } from 'node:fs/promises';
  const { lowerImageThreadPriority } = await import(process.argv[1]);
  const lowered = await lowerImageThreadPriority(7);
  const threads = [];
  for (const tid of await readdir('/proc/self/task')) {
    const stat = await readFile('/proc/self/task/' + tid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    threads.push({ main: Number(tid) === process.pid, name: (await readFile('/proc/self/task/' + tid + '/comm', 'utf8')).trim(), nice: Number(fields[16]) });
  }
  console.log(JSON.stringify({ lowered, threads }));
`;

const linux = process.platform === 'linux' ? describe : describe.skip;

linux('lowerImageThreadPriority', () => {
  it("lowers libuv's pool and leaves the event loop's thread alone", async () => {
    const module = join(import.meta.dirname, 'thread-priority.ts');
    const { stdout } = await run(process.execPath, ['--input-type=module', '--no-warnings', '-e', CHILD, module]);
    const { lowered, threads } = JSON.parse(stdout) as {
      lowered: number;
      threads: { main: boolean; name: string; nice: number }[];
    };

    const pool = threads.filter((thread) => thread.name.startsWith('libuv-worker'));
    expect(pool.length).toBeGreaterThanOrEqual(4);
    expect(lowered).toBe(pool.length);
    expect(pool.every((thread) => thread.nice === 7)).toBe(true);
    expect(threads.find((thread) => thread.main)?.nice).toBe(0);
  });
});
