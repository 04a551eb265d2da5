// The ceiling: the service's own ImageTransformer (from the build, so its settings
// cannot drift from what the worker runs) over in-memory buffers, N in flight.
import { loadConfig } from '../.dist/src/config/app-config.js';
import { ImageTransformer, imageTransformerOptions } from '../.dist/src/processing/transform/image-transformer.js';

let transformer;

/** Built as ProcessingModule builds it, from the default configuration (plus `env`). */
export function serviceTransformer(env = {}) {
  if (Object.keys(env).length > 0) return new ImageTransformer(imageTransformerOptions(loadConfig(env)));
  transformer ??= new ImageTransformer(imageTransformerOptions(loadConfig({})));
  return transformer;
}

/** Transforms every image once with `lanes` in flight; `keep` returns the outputs too. */
export async function bareLoop(
  images,
  { lanes = 4, resize = null, transformer: t = serviceTransformer(), keep = false } = {},
) {
  const outputs = [];
  let next = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let kept = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < images.length) {
        const index = next++;
        const image = images[index];
        const result = await t.transform(image.data, { resize });
        if (keep) outputs[index] = result.data;
        bytesIn += result.bytesIn;
        bytesOut += result.bytesOut;
        if (result.keptOriginal) kept++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMsPerImage = (cpu.user + cpu.system) / 1000 / images.length;
  return {
    images: images.length,
    seconds,
    perSecond: images.length / seconds,
    cpuMsPerImage,
    bytesIn,
    bytesOut,
    kept,
    outputs,
  };
}
