/** 16 MB of slots. */
const MAX_SLOTS = 1 << 21;
/** Past this many URLs an upload is assumed to repeat one. */
export const MAX_WATCHED_URLS = MAX_SLOTS / 2;

const INITIAL_SLOTS = 1 << 12;

/**
 * At most half the slots are taken, so a probe ends within a few slots (the
 * longest over a million URLs of the usual shapes: 40–57); URLs chosen to
 * crowd one stretch of the table end the watch here instead of making each
 * insert walk it.
 */
const MAX_PROBES = 256;

/**
 * Tells whether any URL of an upload may occur twice, from a 53-bit hash of
 * each kept in an open-addressing table (a Float64Array: 8 bytes a slot, half
 * of them free at least; a Set of the same numbers took 51 bytes an entry).
 * Equal URLs hash alike, so "no" is certain; "maybe" comes from a real repeat,
 * from two URLs sharing a hash (about once in 200 000 uploads of 300 000
 * URLs), from a probe longer than MAX_PROBES, or from an upload of more than
 * MAX_WATCHED_URLS.
 *
 * It lets the commit skip the statement that links repeats to their first
 * occurrence (ImageRepository.markRepeats), which sorts every image of the
 * request by URL: 0.4 s of a 100 000-row upload's acknowledgement of about
 * 4.5 s (bench/README.md, "Ingest"), on catalogues that mostly repeat nothing.
 */
export class UrlRepeats {
  private slots: Float64Array | null = new Float64Array(INITIAL_SLOTS);
  private count = 0;

  /** True once a URL may have been seen before; later calls then cost nothing. */
  get possible(): boolean {
    return this.slots === null;
  }

  add(url: string): void {
    let slots = this.slots;
    if (slots === null) return;
    if (2 * (this.count + 1) > slots.length) slots = this.slots = slots.length < MAX_SLOTS ? grown(slots) : null;
    // 0 marks a free slot; a URL hashing to 0 shares 1 with those that hash to 1.
    if (slots === null || !insert(slots, cyrb53(url) || 1)) {
      this.slots = null;
      return;
    }
    this.count++;
  }
}

/** The table at twice the size, or null should a probe run too long. */
function grown(old: Float64Array): Float64Array | null {
  const slots = new Float64Array(old.length * 2);
  for (const hash of old) {
    if (hash !== 0 && !insert(slots, hash)) return null;
  }
  return slots;
}

/** Adds `hash` to the table; false when it was there already, or its probe ran too long. */
function insert(slots: Float64Array, hash: number): boolean {
  const mask = slots.length - 1;
  // The low 32 bits are cyrb53's first lane, spread by its final mixing.
  let slot = (hash % 4294967296) & mask;
  for (let probe = 0; probe < MAX_PROBES; probe++, slot = (slot + 1) & mask) {
    if (slots[slot] === 0) {
      slots[slot] = hash;
      return true;
    }
    if (slots[slot] === hash) return false;
  }
  return false;
}

/**
 * cyrb53 by bryc (public domain): a 53-bit hash of a string's UTF-16 code
 * units, two multiplicative 32-bit lanes mixed at the end. Not cryptographic:
 * it only has to spread URLs, which the uploader chooses, and a collision
 * only costs the statement this skips.
 */
export function cyrb53(text: string): number {
  // Read once: in a vm context (jest's) each lookup of a global was 40 times slower than the hash itself.
  const { imul } = Math;
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = imul(h1 ^ code, 2654435761);
    h2 = imul(h2 ^ code, 1597334677);
  }
  h1 = imul(h1 ^ (h1 >>> 16), 2246822507) ^ imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = imul(h2 ^ (h2 >>> 16), 2246822507) ^ imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
