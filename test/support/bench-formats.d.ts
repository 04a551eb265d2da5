// bench/lib/formats.mjs is plain JavaScript shared with the bench and ships no
// declarations; these declare what the suites use of it.
declare module '*/bench/lib/formats.mjs' {
  /** A plain sharp script's output at quality 50 (GIF: sharp's defaults), optionally resized by a factor. */
  export function plainSharp(input: Buffer, format: string, resize?: number | null): Promise<Buffer>;
  /** Mean SSIM on luma of `output` against `input` resized to it; 1 is identical. */
  export function ssim(input: Buffer, output: Buffer, animated?: boolean): Promise<number>;
  /** The path of ImageMagick's `convert`, or null when it is not installed. */
  export function imageMagick(): Promise<string | null>;
  /** `convert in.gif -coalesce [-resize] -layers optimize out.gif`: ImageMagick's best effort at a GIF. */
  export function imageMagickGif(convert: string, input: Buffer, resize?: number | null): Promise<Buffer>;
}
