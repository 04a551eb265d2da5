import sharp from 'sharp';
const mode = process.argv[2];
if (mode === 'nocache') sharp.cache(false);
sharp.concurrency(1);
const imgs = [];
for (let i = 0; i < 24; i++) {
  const noise = await sharp({ create: { width: 1600, height: 1200, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 30 } } }).blur(1.2).jpeg({ quality: 85 }).toBuffer();
  imgs.push(noise);
}
async function run(n) {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < n) { const i = next++; await sharp(imgs[i % imgs.length]).rotate().toColourspace('srgb').jpeg({ quality: 50 }).toFile(`/tmp/cb-${i % 8}.jpg`); }
  }));
}
await run(24);
const c0 = process.cpuUsage(); const t0 = performance.now();
await run(400);
const c1 = process.cpuUsage(c0); const t = performance.now() - t0;
console.log(mode, (400 / t * 1000).toFixed(1), 'img/s', ((c1.user + c1.system) / 1000 / 400).toFixed(2), 'ms cpu/img');
