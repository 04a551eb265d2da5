const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** `250ms`, `5s`, `30m`, `2h`, `1d` → milliseconds; null when the text is not such a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** A comma-separated list of durations (`5s,5m,30m`); null when any item is not one. */
export function parseDurationList(text: string): number[] | null {
  const items = text.split(',').map((item) => item.trim());
  const durations = items.map(parseDuration);
  return durations.every((ms): ms is number => ms !== null) ? durations : null;
}
