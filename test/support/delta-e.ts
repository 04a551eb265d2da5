import sharp from 'sharp';

/**
 * Mean CIEDE2000 colour difference between two images of the same size, both read
 * as 8-bit sRGB (neither carries a profile here), alpha ignored. Pixels are sampled
 * on a grid so a large photo costs no more than about 40 000 comparisons.
 * `average` first shrinks both by that factor: a colour shift survives the
 * averaging, a lossy encoder's noise (JPEG blocks, a palette) mostly does not.
 */
export async function meanDeltaE2000(a: Buffer, b: Buffer, average = 1): Promise<number> {
  const [left, right] = await Promise.all([a, b].map((image) => rgb(image, average)));
  if (left.width !== right.width || left.height !== right.height) {
    throw new Error(`Sizes differ: ${left.width}x${left.height} and ${right.width}x${right.height}`);
  }
  const step = Math.max(1, Math.floor(Math.sqrt((left.width * left.height) / 40_000)));
  let total = 0;
  let count = 0;
  for (let y = 0; y < left.height; y += step) {
    for (let x = 0; x < left.width; x += step) {
      const offset = (y * left.width + x) * 3;
      total += deltaE2000(lab(left.data, offset), lab(right.data, offset));
      count++;
    }
  }
  return total / count;
}

async function rgb(image: Buffer, average: number) {
  // No colour management here: both sides are already sRGB, and a grey image is spread to RGB.
  const { width, height } = await sharp(image).metadata();
  const { data, info } = await sharp(image)
    .removeAlpha()
    .resize({ width: Math.round(width / average), height: Math.round(height / average), fit: 'fill', kernel: 'linear' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`Expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

type Lab = [number, number, number];

function lab(data: Buffer, offset: number): Lab {
  const [r, g, b] = [0, 1, 2].map((channel) => {
    const value = data[offset + channel] / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  });
  // sRGB to XYZ (D65), then to Lab with the D65 white point.
  const x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

/** CIEDE2000 (Sharma, Wu and Dalal 2005), kL = kC = kH = 1. */
export function deltaE2000([l1, a1, b1]: Lab, [l2, a2, b2]: Lab): number {
  const rad = Math.PI / 180;
  const c1 = Math.hypot(a1, b1);
  const c2 = Math.hypot(a2, b2);
  const cMean = (c1 + c2) / 2;
  const g = 0.5 * (1 - Math.sqrt(cMean ** 7 / (cMean ** 7 + 25 ** 7)));
  const a1p = (1 + g) * a1;
  const a2p = (1 + g) * a2;
  const c1p = Math.hypot(a1p, b1);
  const c2p = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1p = hue(b1, a1p);
  const h2p = hue(b2, a2p);
  const dL = l2 - l1;
  const dC = c2p - c1p;
  let dh = 0;
  if (c1p * c2p !== 0) {
    dh = h2p - h1p;
    if (dh > 180) dh -= 360;
    else if (dh < -180) dh += 360;
  }
  const dH = 2 * Math.sqrt(c1p * c2p) * Math.sin((dh / 2) * rad);
  const lMean = (l1 + l2) / 2;
  const cpMean = (c1p + c2p) / 2;
  let hMean = h1p + h2p;
  if (c1p * c2p !== 0) {
    if (Math.abs(h1p - h2p) <= 180) hMean /= 2;
    else hMean = h1p + h2p < 360 ? (hMean + 360) / 2 : (hMean - 360) / 2;
  }
  const t =
    1 -
    0.17 * Math.cos((hMean - 30) * rad) +
    0.24 * Math.cos(2 * hMean * rad) +
    0.32 * Math.cos((3 * hMean + 6) * rad) -
    0.2 * Math.cos((4 * hMean - 63) * rad);
  const dTheta = 30 * Math.exp(-(((hMean - 275) / 25) ** 2));
  const rc = 2 * Math.sqrt(cpMean ** 7 / (cpMean ** 7 + 25 ** 7));
  const sl = 1 + (0.015 * (lMean - 50) ** 2) / Math.sqrt(20 + (lMean - 50) ** 2);
  const sc = 1 + 0.045 * cpMean;
  const sh = 1 + 0.015 * cpMean * t;
  const rt = -Math.sin(2 * dTheta * rad) * rc;
  return Math.sqrt((dL / sl) ** 2 + (dC / sc) ** 2 + (dH / sh) ** 2 + rt * (dC / sc) * (dH / sh));
}
