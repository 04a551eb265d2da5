// Image quality for the resize section: PSNR of an encoded output against a
// reference resize that decodes every pixel and uses Lanczos 3 (sharp's
// default kernel), before any compression.
import sharp from 'sharp';

/** Mean PSNR in dB of each output against the full-decode Lanczos resize of its input. */
export async function meanPsnr(inputs, outputs) {
  let sum = 0;
  for (let i = 0; i < inputs.length; i++) {
    const { width, height } = await sharp(outputs[i]).metadata();
    const reference = await sharp(inputs[i]).resize({ width, height, fit: 'fill' }).removeAlpha().raw().toBuffer();
    const pixels = await sharp(outputs[i]).removeAlpha().raw().toBuffer();
    let squaredError = 0;
    for (let p = 0; p < pixels.length; p++) squaredError += (pixels[p] - reference[p]) ** 2;
    sum += 10 * Math.log10((255 * 255) / (squaredError / pixels.length));
  }
  return sum / inputs.length;
}

/**
 * Product-shot-like JPEGs: a flat studio background, a shape with hard edges and
 * a label in small type. The corpus photos are textured with noise everywhere,
 * the worst case for a shrink-on-load decoder; these are the common case.
 */
export async function productShots(count, width = 2000, height = 1500) {
  const shots = [];
  for (let i = 0; i < count; i++) {
    const colour = ((i * 0x3c6ef3) & 0xffffff).toString(16).padStart(6, '0');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
      <defs>
        <radialGradient id="bg" cx="50%" cy="40%" r="70%"><stop offset="0" stop-color="#fafafa"/><stop offset="1" stop-color="#c8ccd4"/></radialGradient>
        <linearGradient id="item" x1="0" x2="1"><stop offset="0" stop-color="#${colour}"/><stop offset="1" stop-color="#203040"/></linearGradient>
      </defs>
      <rect width="100%" height="100%" fill="url(#bg)"/>
      <rect x="${width * 0.25 + i * 7}" y="${height * 0.2}" width="${width * 0.45}" height="${height * 0.53}" rx="60" fill="url(#item)"/>
      <circle cx="${width / 2}" cy="${height * 0.47}" r="${height * 0.13 + i}" fill="#fff" opacity="0.8"/>
      <text x="${width * 0.28}" y="${height * 0.83}" font-size="${height * 0.06}" font-family="sans-serif" fill="#111">SKU-${1000 + i} Product name</text>
      <text x="${width * 0.28}" y="${height * 0.9}" font-size="${height * 0.027}" font-family="sans-serif" fill="#333">Fine print: 100 % cotton, machine washable at 30 °C</text>
    </svg>`;
    shots.push({ data: await sharp(Buffer.from(svg)).flatten().jpeg({ quality: 92 }).toBuffer() });
  }
  return shots;
}
