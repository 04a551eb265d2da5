import { readdir, readFile, stat } from 'node:fs/promises';
import { setPriority } from 'node:os';

/**
 * Threads that encode images: libuv's pool (sharp runs its pipelines there)
 * and the threads libvips starts from it. Threads a lowered thread creates
 * later inherit its priority.
 */
const IMAGE_THREAD = /^(libuv-worker|libvips)/;

/**
 * Lowers the scheduling priority of this process's image threads to `nice`, so
 * that on a machine they keep busy, the API, PostgreSQL and Redis still get a
 * core as soon as they have work: with the encoder at the same priority,
 * status requests queued behind it for tens of milliseconds (bench, status
 * section). The event loop keeps its priority: it feeds the encoder and talks
 * to the database for every image.
 *
 * Linux only (a thread id is a valid target for setpriority there); elsewhere,
 * or when /proc is not mounted, nothing changes. Returns how many threads were
 * lowered.
 */
export async function lowerImageThreadPriority(nice: number): Promise<number> {
  if (nice === 0 || process.platform !== 'linux') return 0;
  // libuv starts its whole pool on the first piece of work submitted to it.
  await stat('.');
  let lowered = 0;
  let tasks: string[];
  try {
    tasks = await readdir('/proc/self/task');
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    const name = await readFile(`/proc/self/task/${tid}/comm`, 'utf8').catch(() => '');
    if (!IMAGE_THREAD.test(name)) continue;
    try {
      setPriority(Number(tid), nice);
      lowered++;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return lowered;
}
