// Runs lib/plain-script.mjs (what a user would write instead of the service) as a
// child process, spawned like the service's processes, and drives its handshake:
// started → warm-up done (`ready`) → run() → result → close().
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = join(import.meta.dirname, 'plain-script.mjs');

/** Starts the script on the URLs of `urlsFile`, writing into `outDir` (resized by `resize`, a factor); resolves once its warm-up is done. */
export async function startPlainScript({ urlsFile, outDir, lanes, warmUp, resize = null }) {
  // A plain `node script.mjs`: no service flags, a bare environment.
  const child = spawn(
    process.execPath,
    [
      SCRIPT,
      urlsFile,
      outDir,
      '--lanes',
      String(lanes),
      '--warm-up',
      String(warmUp),
      ...(resize === null ? [] : ['--resize', String(resize)]),
    ],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let errors = '';
  child.stderr.on('data', (chunk) => {
    if (errors.length < 100_000) errors += chunk;
  });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (what) => {
    const { value, done } = await lines.next();
    if (!done) return value;
    const { code, signal } = await exited;
    throw new Error(`plain script exited (${signal ?? code}) before ${what}:\n${errors.slice(-2000)}`);
  };
  const close = async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    return { code, signal, errors };
  };
  try {
    const ready = await nextLine('its warm-up was done');
    if (ready !== 'ready') throw new Error(`plain script said ${JSON.stringify(ready)} instead of ready`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    pid: child.pid,
    /** Does every URL; resolves with { images, seconds, bytesIn, bytesOut }. The process stays for /proc. */
    async run() {
      child.stdin.write('go\n');
      return JSON.parse(await nextLine('its batch was done'));
    },
    /** Lets the process exit; resolves with its exit code, signal and stderr. */
    close,
  };
}
