import { execFile } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { ImageServer } from '../support/image-server.js';
import { startTestApp, TestApp } from '../support/test-app.js';

// The compiled CLI, as `npx pixbatch` runs it (npm test runs after npm run build).
const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI's processing options (--max-width, --max-height, --quality, --format, --no-reuse), as a child process. */
describe('pixbatch CLI: processing options', () => {
  let images: ImageServer;
  let testApp: TestApp;
  let dir: string;
  let env: Record<string, string>;
  let csvFile: string;

  function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env, cwd: dir }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  beforeAll(async () => {
    images = await ImageServer.start();
    testApp = await startTestApp();
    await testApp.app.listen(0, '127.0.0.1');
    dir = await mkdtemp(join(tmpdir(), 'pixbatch-cli-options-'));
    csvFile = join(dir, 'shoes.csv');
    await writeFile(csvFile, `S. No.,Product Name,Input Image Urls\n12,Red Shoes,"${images.url('/photo2.jpg')}"\n`);
    // Without NODE_OPTIONS: jest's --experimental-vm-modules would only add a warning to the child's stderr.
    const inherited = { ...process.env };
    delete inherited.NODE_OPTIONS;
    env = { ...(inherited as Record<string, string>), PIXBATCH_URL: await testApp.app.getUrl() };
  });

  afterAll(async () => {
    await testApp?.close();
    await images?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sends --max-width, --max-height, --quality and --format with the upload', async () => {
    const run = await cli([
      'submit',
      csvFile,
      '--wait',
      '--max-width',
      '300',
      '--max-height',
      '200',
      '--quality',
      '70',
      '--format',
      'webp',
    ]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const id = run.stdout.match(UUID)![0];
    const status = (await testApp.app.inject({ url: `/api/v1/requests/${id}` })).json<RequestStatusDto>();
    expect(status.options).toEqual({
      resize: null,
      maxWidth: 300,
      maxHeight: 200,
      quality: 70,
      format: 'webp',
      reuse: true,
    });
    const products = (await testApp.app.inject({ url: `/api/v1/requests/${id}/products` })).json<ProductPageDto>();
    const output = await testApp.app.inject({ url: new URL(products.items[0].images[0].outputUrl!).pathname });
    // photo2.jpg is 800x600: the height bound wins.
    expect(await sharp(output.rawPayload).metadata()).toMatchObject({ format: 'webp', width: 267, height: 200 });
  });

  it('export --zip writes the ZIP of the outputs and the result CSV; exit 1 for an unknown request', async () => {
    const submitted = await cli(['submit', csvFile, '--wait']);
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.match(UUID)![0];
    const run = await cli(['export', id, '--zip', '-o', 'shoes.zip']);
    expect(run).toMatchObject({ code: 0, stdout: 'ZIP written to shoes.zip\n', stderr: '' });
    const zip = await readFile(join(dir, 'shoes.zip'));
    const served = await testApp.app.inject({ url: `/api/v1/requests/${id}/archive` });
    // The same archive the API streams (entry timestamps aside, which yazl takes from the clock).
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(zip.length).toBe(served.rawPayload.length);
    expect(zip.includes(Buffer.from('12-red-shoes/12-red-shoes-1.jpg'))).toBe(true);
    expect(zip.includes(Buffer.from('shoes-result.csv'))).toBe(true);

    const unknown = await cli(['export', '00000000-0000-4000-8000-000000000000', '--zip', '-o', 'none.zip']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('REQUEST_NOT_FOUND');
    await expect(readFile(join(dir, 'none.zip'))).rejects.toThrow();
    await expect(readFile(join(dir, 'none.zip.part'))).rejects.toThrow();
  });

  it('prints a Re-run: line when an upload again copied unchanged images; --no-reuse fetches them all', async () => {
    const photo = images.images.get('/photo.jpg')!;
    // Sends an ETag and answers a matching If-None-Match with 304, as a supplier's CDN does.
    const conditional: string[] = [];
    images.route('/rerun-etag.jpg', (_hit, request: IncomingMessage) => {
      if (request.headers['if-none-match'] !== undefined) conditional.push(request.headers['if-none-match']);
      return request.headers['if-none-match'] === '"r1"'
        ? { status: 304, headers: { etag: '"r1"' } }
        : { body: photo, type: 'image/jpeg', headers: { etag: '"r1"' } };
    });
    // No validators: only its bytes, hashed, tell that it has not changed.
    images.route('/rerun-plain.jpg', { body: images.images.get('/photo2.jpg')!, type: 'image/jpeg' });
    // Replaced between the uploads: new bytes, so it is fetched anew.
    images.route('/rerun-changing.jpg', (hit) => ({
      body: hit === 1 ? photo : images.images.get('/alpha.png')!,
      type: hit === 1 ? 'image/jpeg' : 'image/png',
    }));
    const catalogue = join(dir, 'catalogue.csv');
    await writeFile(
      catalogue,
      [
        'S. No.,Product Name,Input Image Urls',
        `1,Mug,${images.url('/rerun-etag.jpg')}`,
        `2,Lamp,${images.url('/rerun-plain.jpg')}`,
        `3,Chair,${images.url('/rerun-changing.jpg')}`,
      ].join('\n') + '\n',
    );

    const first = await cli(['submit', catalogue, '--wait']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).not.toContain('Re-run:');

    const second = await cli(['submit', catalogue, '--wait']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    const rerun =
      'Re-run: 2 unchanged, copied instead of compressed again ' +
      '(1 confirmed by the image host, 1 downloaded with the same bytes), 1 fetched anew\n';
    expect(second.stdout).toContain(`Images: 3 succeeded, 0 failed, 0 pending, of 3\n${rerun}`);
    expect(conditional).toEqual(['"r1"']);
    const status = await cli(['status', second.stdout.match(UUID)![0]]);
    expect(status.stdout).toContain(rerun);

    const third = await cli(['submit', catalogue, '--wait', '--no-reuse']);
    expect(third).toMatchObject({ code: 0, stderr: '' });
    expect(third.stdout).not.toContain('Re-run:');
    expect(third.stdout).toContain('Reuse: off, every image fetched and compressed anew\n');
    // Not even asked conditionally: every image was downloaded and encoded.
    expect(conditional).toHaveLength(1);
    const id = third.stdout.match(UUID)![0];
    const sent = (await testApp.app.inject({ url: `/api/v1/requests/${id}` })).json<RequestStatusDto>();
    expect(sent.options.reuse).toBe(false);
    expect(sent.counts.images).toMatchObject({ succeeded: 3, fetched: 3, revalidated: 0, reused: 0 });
  });

  it.each([
    [['--quality', 'best'], '--quality must be a number, got "best"'],
    [['--max-width', '800px'], '--max-width must be a number, got "800px"'],
    [['--format', 'gif'], '--format must be one of keep, jpeg, webp, avif, png, got "gif"'],
  ])('refuses %j before uploading, exit 1', async (flags, message) => {
    const run = await cli(['submit', csvFile, ...flags]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it.each([
    [['--quality', '0'], 'quality must be a whole number from 1'],
    [['--max-height', '0'], 'maxHeight must be a whole number of pixels from 1'],
    [['--resize', '0.5', '--max-width', '100'], 'send one or the other, not both'],
  ])('shows the server refusal of %j, exit 1', async (flags, message) => {
    const run = await cli(['submit', csvFile, ...flags]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
  });
});
