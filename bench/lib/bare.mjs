// The ceiling: the service's own ImageTransformer (from the build, so its settings
// cannot drift from what the worker runs) over in-memory buffers, N in flight.
import { loadConfig } from '../.dist/src/config/app-config.js';
import { ImageTransformer } from '../.dist/src/processing/transform/image-transformer.js';

let transformer;

/** Built as ProcessingModule builds it, from the default configuration. */
export function serviceTransformer() {
  transformer ??= new ImageTransformer({ maxPixels: loadConfig({}).limits.imagePixels, timeoutSeconds: 60 });
  return transformer;
}

/** Transforms every image once with `lanes` in flight. */
export async function bareLoop(images, { lanes = 4, resize = null } = {}) {
  const t = serviceTransformer();
  let next = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let kept = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < images.length) {
        const image = images[next++];
        const result = await t.transform(image.data, { resize });
        bytesIn += result.bytesIn;
        bytesOut += result.bytesOut;
        if (result.keptOriginal) kept++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMsPerImage = (cpu.user + cpu.system) / 1000 / images.length;
  return { images: images.length, seconds, perSecond: images.length / seconds, cpuMsPerImage, bytesIn, bytesOut, kept };
}
