import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const MAIN = join(process.cwd(), 'dist/src/main.js');

/**
 * The built service (dist/src/main.js) as a real child process, as it runs in
 * production: one role, its own connections, killable with any signal. Its
 * output goes to a log file that a failing test can show.
 */
export class AppProcess {
  readonly exited: Promise<NodeJS.Signals | number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  }

  /** `cwd`: the process's own working directory, as on a host of its own. */
  static spawn(env: Record<string, string>, logFile: string, cwd?: string): AppProcess {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first.`);
    const log = openSync(logFile, 'a');
    try {
      const child = spawn(process.execPath, [MAIN], {
        cwd,
        env: { ...process.env, ...env },
        stdio: ['ignore', log, log],
      });
      return new AppProcess(child, logFile);
    } finally {
      closeSync(log);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Peak resident memory so far (VmHWM), in MB; Linux only. */
  peakRssMb(): number {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  }

  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}
