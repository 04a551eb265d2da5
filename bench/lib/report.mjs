// Measurements across runs, and the table they are printed as.
import { readFile, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

/** The machine's CPU time spent busy between start() and stop(), from /proc/stat. */
export class CpuMeter {
  static async start() {
    const meter = new CpuMeter();
    meter.first = await sample();
    return meter;
  }

  async stop() {
    const last = await sample();
    const total = last.total - this.first.total;
    const busy = total - (last.idle - this.first.idle);
    // /proc/stat counts ticks of every core, 100 per second.
    return {
      share: total === 0 ? 0 : busy / total,
      busySeconds: busy / 100,
      seconds: total / 100 / availableParallelism(),
    };
  }
}

/**
 * CPU seconds used so far by each process with one of the given command names
 * (e.g. postgres, redis-server), by pid: compare two samples with cpuBetween.
 */
export async function cpuSecondsByCommand(names) {
  const sample = Object.fromEntries(names.map((name) => [name, new Map()]));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const command = statName(stat);
      if (!(command in sample)) continue;
      sample[command].set(entry, statCpuSeconds(stat));
    } catch {
      // The process ended while we looked.
    }
  }
  return sample;
}

/**
 * CPU seconds a command's processes used between two samples. A process that
 * ended in between is lost (fine for servers and pooled connections); one that
 * started counts from zero.
 */
export function cpuBetween(before, after) {
  let seconds = 0;
  for (const [pid, total] of after) seconds += total - (before.get(pid) ?? 0);
  return seconds;
}

/** The command (or thread) name of a /proc/PID/stat or /proc/PID/task/TID/stat line. */
export function statName(stat) {
  return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
}

/** The CPU seconds of a /proc/PID/stat or /proc/PID/task/TID/stat line. */
export function statCpuSeconds(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function sample() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // idle and iowait are fields 4 and 5 of the cpu line.
  return { total: ticks.reduce((a, b) => a + b, 0), idle: ticks[3] + ticks[4] };
}

/** Per metric: its label and unit, and every run's value. */
export function summarize(runs) {
  const rows = new Map();
  for (const metrics of runs) {
    for (const [key, m] of Object.entries(metrics)) {
      if (!rows.has(key)) rows.set(key, { ...m, values: [] });
      rows.get(key).values.push(m.value);
    }
  }
  return [...rows.values()];
}

export function printTable(rows) {
  const many = rows.some((row) => row.values.length > 1);
  const header = many ? ['metric', 'min', 'median', 'max', 'unit'] : ['metric', 'value', 'unit'];
  const lines = rows.map((row) => {
    const sorted = [...row.values].sort((a, b) => a - b);
    const fmt = (v) => v.toFixed(row.digits);
    const cells = many ? [sorted[0], sorted[(sorted.length - 1) >> 1], sorted.at(-1)].map(fmt) : [fmt(sorted[0])];
    return [row.label, ...cells, row.unit];
  });
  const widths = header.map((_, c) => Math.max(header[c].length, ...lines.map((line) => line[c].length)));
  const format = (cells) =>
    cells
      .map((cell, c) => (c === 0 || c === cells.length - 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ');
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(format(line));
}
