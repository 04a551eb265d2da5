/** What a request may ask its images to become; 'keep' writes each in its input's format. */
export const OUTPUT_FORMATS = ['keep', 'jpeg', 'webp', 'avif', 'png'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const DEFAULT_QUALITY = 50;
/** The largest maxWidth or maxHeight accepted: far above any product photo, and within libvips' limits. */
export const MAX_DIMENSION = 16384;

/**
 * What the upload asked its images to become, stored with the request
 * (processing_request.options). Requests stored before maxWidth, maxHeight,
 * quality and format existed lack them: absent means no bound, DEFAULT_QUALITY
 * and the input's format.
 */
export interface ProcessingOptions {
  /** Scale factor applied to both sides, in (0, 1]; null keeps the size. */
  resize: number | null;
  /** Bounds the displayed size fits inside, aspect kept, never enlarged; never together with resize. */
  maxWidth?: number | null;
  maxHeight?: number | null;
  /** Encoder quality, 1-100. */
  quality?: number;
  format?: OutputFormat;
  /**
   * Whether the request may copy an earlier request's output of the same URL
   * and options (docs/architecture.md, "Re-runs"). Stored only when false, so
   * absent means true, and the idempotency fingerprint of a request that did
   * not turn it off is what it was before the option existed.
   */
  reuse?: false;
}

/** The options as the API reports them, the defaults filled in. */
export function withDefaults(
  options: ProcessingOptions,
): Required<Omit<ProcessingOptions, 'reuse'>> & { reuse: boolean } {
  return {
    resize: options.resize ?? null,
    maxWidth: options.maxWidth ?? null,
    maxHeight: options.maxHeight ?? null,
    quality: options.quality ?? DEFAULT_QUALITY,
    format: options.format ?? 'keep',
    reuse: options.reuse ?? true,
  };
}
