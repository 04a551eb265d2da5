import sharp from 'sharp';
sharp.concurrency(1);
const imgs = [];
for (let i = 0; i < 24; i++) imgs.push(await sharp({ create: { width: 1600, height: 1200, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 30 } } }).blur(1.2).jpeg({ quality: 85 }).withExif({IFD0:{Copyright:'x'}}).toBuffer());
for (let r = 0; r < 3; r++) {
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < 2000; i++) await sharp(imgs[i % 24], { failOn: 'error', limitInputPixels: false }).metadata();
const c1 = process.cpuUsage(c0);
console.log('metadata', ((c1.user + c1.system) / 1000 / 2000).toFixed(3), 'ms cpu', ((performance.now()-t0)/2000).toFixed(3), 'ms wall');
}
