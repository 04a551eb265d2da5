import sharp, { type Sharp } from 'sharp';

/**
 * Photo-like pixels: smooth gradients plus noise, so encoders behave as on a
 * real product photo (flat colour would compress to almost nothing).
 */
export function photoPixels(width: number, height: number, seed = 1): Sharp {
  const channels = 3;
  const data = Buffer.alloc(width * height * channels);
  let state = seed * 2_654_435_761;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1_103_515_245 + 12_345) >>> 0;
      const noise = (state >>> 24) % 32;
      const offset = (y * width + x) * channels;
      data[offset] = (x * 255) / width + noise;
      data[offset + 1] = (y * 255) / height + noise;
      data[offset + 2] = ((x + y) * 127) / (width + height) + seed * 40 + noise;
    }
  }
  return sharp(data, { raw: { width, height, channels } });
}

export async function photoJpeg(width = 640, height = 480, seed = 1): Promise<Buffer> {
  return photoPixels(width, height, seed).jpeg({ quality: 95 }).toBuffer();
}

export async function alphaPng(width = 320, height = 240): Promise<Buffer> {
  return photoPixels(width, height, 2).ensureAlpha(0.6).png().toBuffer();
}

/** Stored 320×240 with EXIF orientation 6: displays as 240×320. */
export async function rotatedJpeg(): Promise<Buffer> {
  return photoPixels(320, 240, 3).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
}

export async function cmykJpeg(width = 200, height = 150): Promise<Buffer> {
  return photoPixels(width, height, 4).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
}

export async function animatedGif(width = 120, height = 90, frames = 4): Promise<Buffer> {
  const pages = await Promise.all(
    Array.from({ length: frames }, async (_, index) =>
      photoPixels(width, height, index + 1)
        .png()
        .toBuffer(),
    ),
  );
  return sharp(pages, { join: { animated: true } })
    .gif({ delay: Array(frames).fill(100), loop: 0 })
    .toBuffer();
}
