import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/free-port.js';
import { ImageServer } from '../support/image-server.js';
import { cleanUp } from '../support/test-app.js';
import { testConfig, testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { launchChromium } from './browser.js';

// The budget: the whole suite runs in well under two minutes; no single test or hook may take more than one.
const BUDGET_MS = 60_000;

const API_KEY = 'browser-key';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core evaluated through devtools: the page's CSP (rightly) refuses an injected inline script. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  // Browser-side code as strings: the test project is typed for Node, without the DOM library.
  const violations = await page.evaluate<AxeViolation[]>('axe.run().then((result) => result.violations)');
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
}

async function screenshot(page: Page, name: string): Promise<void> {
  // Transitions finished, so a bar is pictured where it is, not on its way there.
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

const csv = (rows: string[]) => Buffer.from(['S. No.,Product Name,Input Image Urls', ...rows].join('\n') + '\n');

describe('The web page, in Chromium, against the real service', () => {
  let images: ImageServer;
  let receiver: WebhookReceiver;
  let app: AppProcess;
  let env: Record<string, string>;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every URL the page asked for, to prove the key never travels in one. */
  const requested: string[] = [];
  /** The x-api-key header of each API call the page made. */
  const apiKeyHeaders: (string | undefined)[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    images = await ImageServer.start();
    receiver = await WebhookReceiver.start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({
      PORT: String(port),
      PUBLIC_BASE_URL: base,
      API_KEYS: API_KEY,
      LOG_LEVEL: 'warn',
      // A failed webhook attempt is tried again soon enough for the page to be seen following it.
      WEBHOOK_RETRY_DELAYS: '4s,4s',
      WEBHOOK_SIGNING_SECRET: `whsec_${Buffer.from('browser-suite-signing-secret').toString('base64')}`,
    });
    rmSync(join(ARTIFACTS, 'app.log'), { force: true });
    app = AppProcess.spawn(env, join(ARTIFACTS, 'app.log'));
    await waitUntil('the app to answer', async () => (await fetch(`${base}/health/live`)).ok, 30_000);
    browser = await launchChromium();
  }, BUDGET_MS);

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('request', (request) => {
      requested.push(request.url());
      if (new URL(request.url()).pathname.startsWith('/api/')) apiKeyHeaders.push(request.headers()['x-api-key']);
    });
  });

  afterEach(async () => {
    await context?.close();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.kill('SIGTERM');
    await images?.close();
    await receiver?.close();
    if (env) await cleanUp(testConfig(env));
  }, BUDGET_MS);

  /** Enters the key through the prompt, as a person would after the first 401. */
  async function enterKey(key: string): Promise<void> {
    await page.getByLabel('API key', { exact: true }).fill(key);
    await page.getByRole('button', { name: 'Use this key' }).click();
  }

  it(
    'asks for the API key, says when it is wrong, then uploads and shows the batch live to the end',
    async () => {
      await page.goto(`${base}/`);
      // Asked on arrival, from GET /api/v1/access: before any call has been refused.
      await page.getByLabel('API key', { exact: true }).waitFor();
      expect(await page.evaluate('document.activeElement.id')).toBe('api-key');
      expect(requested.filter((url) => new URL(url).pathname.startsWith('/api/'))).toEqual([`${base}/api/v1/access`]);
      await screenshot(page, 'api-key-prompt');
      await page.getByLabel('CSV file').setInputFiles({
        name: 'catalogue.csv',
        mimeType: 'text/csv',
        buffer: csv([
          `1,Blue Mug,"${images.url('/photo.jpg')},${images.url('/alpha.png')}"`,
          `2,Red Lamp,${images.url('/photo2.jpg')}`,
          `3,Gone Chair,${images.url('/missing.jpg')}`,
        ]),
      });
      await enterKey('not-the-key');
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.getByText('That API key was not accepted').waitFor();

      await enterKey(API_KEY);
      apiKeyHeaders.length = 0;
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.waitForURL(/\/requests\/[0-9a-f-]{36}$/);
      const requestId = page.url().split('/').pop()!;

      const bar = page.getByRole('progressbar', { name: 'Images processed' });
      await bar.waitFor();
      await waitUntil(
        'progress to reach 100 %',
        async () => (await bar.getAttribute('aria-valuenow')) === '100',
        30_000,
      );
      await page.getByText('Completed, some images failed').waitFor();

      // Three outputs, each a decoded image served from /files (loading=lazy, so scroll them in).
      const thumbnails = page.locator('.products img');
      await waitUntil('three thumbnails', async () => (await thumbnails.count()) === 3);
      for (const thumbnail of await thumbnails.all()) {
        await thumbnail.scrollIntoViewIfNeeded();
        await waitUntil('the thumbnail to load', () =>
          thumbnail.evaluate((element) => {
            const img = element as unknown as { complete: boolean; naturalWidth: number };
            return img.complete && img.naturalWidth > 0;
          }),
        );
        expect(await thumbnail.getAttribute('src')).toMatch(new RegExp(`^${base}/files/`));
        // The thumbnail opens the output itself, at full size.
        expect(await thumbnail.locator('xpath=..').getAttribute('href')).toBe(await thumbnail.getAttribute('src'));
      }
      // The failed image, with its code and a sentence for a person, in the summary and the product list.
      await page.getByText('The image is not at this address any more (HTTP 404).').first().waitFor();
      expect(await page.locator('.failures').textContent()).toContain('HTTP_404');
      expect(await page.locator('.saving').count()).toBe(3);
      await page.evaluate('window.scrollTo(0, 0)');
      await screenshot(page, 'request-view');
      expect(await seriousViolations(page)).toEqual([]);

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download result CSV' }).click(),
      ]);
      // The name the server gives in Content-Disposition.
      expect(download.suggestedFilename()).toBe('catalogue-result.csv');
      const downloaded = readFileSync(await download.path());
      const exported = await fetch(`${base}/api/v1/requests/${requestId}/export`, {
        headers: { 'x-api-key': API_KEY },
      });
      expect(exported.status).toBe(200);
      expect(downloaded.equals(Buffer.from(await exported.arrayBuffer()))).toBe(true);

      expect(requested.filter((url) => url.includes(API_KEY))).toEqual([]);
      // Upload, status, products, export: every API call since the key was entered carried it in the header.
      expect(apiKeyHeaders.length).toBeGreaterThanOrEqual(4);
      expect(new Set(apiKeyHeaders)).toEqual(new Set([API_KEY]));
    },
    BUDGET_MS,
  );

  it(
    'changes and forgets the API key from the header',
    async () => {
      await page.goto(`${base}/requests`);
      await enterKey(API_KEY);
      await page.locator('.request-item').first().waitFor();
      expect(await page.getByLabel('API key', { exact: true }).count()).toBe(0);

      // Change: a wrong key is refused, and the prompt says so.
      await page.getByRole('button', { name: 'Change API key' }).click();
      await page.getByRole('button', { name: 'Keep the current key' }).waitFor();
      await enterKey('not-the-key');
      await page.getByText('That API key was not accepted').waitFor();
      await enterKey(API_KEY);
      await page.locator('.request-item').first().waitFor();

      // Forget: the tab holds no key any more, and the page asks for one again.
      await page.getByRole('button', { name: 'Forget API key' }).click();
      await page.getByLabel('API key', { exact: true }).waitFor();
      expect(await page.evaluate(`sessionStorage.getItem('pixbatch.apiKey')`)).toBeNull();
      expect(await page.getByRole('button', { name: 'Forget API key' }).count()).toBe(0);
    },
    BUDGET_MS,
  );

  /** Whether the element lies wholly inside the viewport as it is scrolled now. */
  async function inView(selector: string): Promise<boolean> {
    return page.evaluate<boolean>(
      `(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
        return r.top >= -1 && r.top < innerHeight && r.left >= 0 && r.right <= innerWidth; })()`,
    );
  }

  const problemFocused = () => page.evaluate<boolean>('document.activeElement.classList.contains("problem")');

  it(
    'shows a rejected CSV as a table of rows, lines, columns and messages, in view, and refuses to upload it',
    async () => {
      await page.goto(`${base}/`);
      await page.evaluate(`sessionStorage.setItem('pixbatch.apiKey', ${JSON.stringify(API_KEY)})`);
      const upload = page.getByRole('button', { name: 'Upload' });
      await page.getByLabel('CSV file').setInputFiles({
        name: 'broken.csv',
        mimeType: 'text/csv',
        buffer: csv([
          `1,Blue Mug,${images.url('/photo.jpg')}`,
          `2,,${images.url('/photo.jpg')}`,
          `1,Copy,${images.url('/photo.jpg')}`,
        ]),
      });
      const table = page.getByRole('table');
      await table.waitFor();
      const header = await table.locator('thead th').allTextContents();
      expect(header).toEqual(['Row', 'Line', 'Column', 'Message']);
      const cells = await Promise.all(
        (await table.locator('tbody tr').all()).map((row) => row.locator('td').allTextContents()),
      );
      expect(cells.map(([row, line]) => [row, line])).toEqual([
        ['2', '3'],
        ['3', '4'],
      ]);
      expect(cells.every((row) => (row[3] ?? '').length > 0)).toBe(true);
      expect(await page.locator('.problem').textContent()).not.toContain('{');
      // In view without scrolling, focused for a screen reader, and the file cannot be sent as it is.
      await waitUntil(
        'the problem in view and focused',
        async () => (await inView('.problem')) && (await problemFocused()),
      );
      expect(await upload.isDisabled()).toBe(true);
      expect(page.url()).toBe(`${base}/`);
      await screenshot(page, 'csv-rejected');
      expect(await seriousViolations(page)).toEqual([]);

      // A refused option (a webhook URL the server will not call) is shown in view and focused too.
      await page.getByLabel('CSV file').setInputFiles({
        name: 'fixed.csv',
        mimeType: 'text/csv',
        buffer: csv([`1,Blue Mug,${images.url('/photo.jpg')}`]),
      });
      await page.getByRole('region', { name: 'What the service read' }).waitFor();
      expect(await upload.isEnabled()).toBe(true);
      await page.getByLabel('Webhook URL (optional)').fill('ftp://example.com/hook');
      await upload.click();
      await page.locator('.problem').waitFor();
      await waitUntil(
        'the problem in view and focused',
        async () => (await inView('.problem')) && (await problemFocused()),
      );
      expect(page.url()).toBe(`${base}/`);
    },
    BUDGET_MS,
  );

  /** Uploads through the API, as another client of the same tenant would; the page must show it. */
  async function uploadThroughApi(name: string, body: Buffer): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([body], { type: 'text/csv' }), name);
    const response = await fetch(`${base}/api/v1/requests`, {
      method: 'POST',
      body: form,
      headers: { 'x-api-key': API_KEY },
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { requestId: string }).requestId;
  }

  async function statusOf(requestId: string): Promise<{ status: string; completed: boolean } | null> {
    const response = await fetch(`${base}/api/v1/requests/${requestId}`, { headers: { 'x-api-key': API_KEY } });
    return response.status === 404 ? null : ((await response.json()) as { status: string; completed: boolean });
  }

  async function withKey(path: string): Promise<void> {
    await page.goto(`${base}/`);
    await page.evaluate(`sessionStorage.setItem('pixbatch.apiKey', ${JSON.stringify(API_KEY)})`);
    await page.goto(`${base}${path}`);
  }

  it(
    'previews what the server read from the CSV before anything is uploaded',
    async () => {
      await withKey('/');
      const before = (await fetch(`${base}/api/v1/requests?limit=100`, { headers: { 'x-api-key': API_KEY } }).then(
        (r) => r.json(),
      )) as {
        items: unknown[];
      };
      await page.getByLabel('CSV file').setInputFiles({
        name: 'semicolons.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(
          [
            'S. No.;Product Name;Input Image Urls;Colour',
            `1;Blue Mug;${images.url('/photo.jpg')},${images.url('/alpha.png')};blue`,
            `2;Red Lamp;${images.url('/photo2.jpg')};red`,
          ].join('\r\n') + '\r\n',
        ),
      });
      const preview = page.getByRole('region', { name: 'What the service read' });
      await preview.waitFor();
      const facts = await preview.locator('.stats div').allTextContents();
      expect(facts).toEqual(['Products2', 'Image URLs3', 'Separatorsemicolon', 'EncodingUTF-8']);
      const table = preview.getByRole('table');
      expect(await table.locator('thead th').allTextContents()).toEqual([
        'Line',
        'S. No.',
        'Product Name',
        'Input Image Urls',
        'Colour',
      ]);
      const rows = await Promise.all(
        (await table.locator('tbody tr').all()).map((row) => row.locator('td').allTextContents()),
      );
      expect(rows).toEqual([
        ['2', '1', 'Blue Mug', `${images.url('/photo.jpg')},${images.url('/alpha.png')}`, 'blue'],
        ['3', '2', 'Red Lamp', images.url('/photo2.jpg'), 'red'],
      ]);
      await screenshot(page, 'csv-preview');
      expect(await seriousViolations(page)).toEqual([]);
      // The preview stored nothing: the list holds as many requests as before.
      const after = (await fetch(`${base}/api/v1/requests?limit=100`, { headers: { 'x-api-key': API_KEY } }).then((r) =>
        r.json(),
      )) as {
        items: unknown[];
      };
      expect(after.items.length).toBe(before.items.length);
      expect(page.url()).toBe(`${base}/`);
    },
    BUDGET_MS,
  );

  it(
    'lists requests newest first in a table, filters and pages them with the place in the URL, and follows one live',
    async () => {
      // Twelve finished requests, alternately completed and failed, made after every other one in this suite.
      const made: { id: string; name: string; ok: boolean }[] = [];
      for (let i = 1; i <= 12; i++) {
        const ok = i % 2 === 0;
        const name = `list-${String(i).padStart(2, '0')}.csv`;
        made.push({
          id: await uploadThroughApi(name, csv([`1,Item ${i},${images.url(ok ? '/photo.jpg' : '/missing.jpg')}`])),
          name,
          ok,
        });
      }
      await waitUntil(
        'the twelve requests to finish',
        async () => (await Promise.all(made.map((m) => statusOf(m.id)))).every((s) => s?.completed),
        30_000,
      );
      const newestFirst = made.map((m) => m.name).reverse();

      await withKey('/requests');
      const names = () => page.locator('.request-item .request-title a').allTextContents();
      const pager = page.getByRole('navigation', { name: 'Requests pages' }).locator('span');
      await waitUntil('the first page', async () => (await names()).length === 10);
      expect(await names()).toEqual(newestFirst.slice(0, 10));
      expect(await page.getByRole('progressbar', { name: 'list-12.csv progress' }).getAttribute('aria-valuenow')).toBe(
        '100',
      );
      // A table row per request: its short id and creation time tell two uploads of one file apart; counts in words.
      const newest = page.locator('.request-item', { hasText: 'list-12.csv' });
      const newestId = made[11].id;
      expect(await newest.locator('.short-id').textContent()).toBe(newestId.slice(0, 8));
      expect(await newest.locator('.short-id').getAttribute('title')).toBe(newestId);
      expect(await newest.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect(await newest.textContent()).toContain('1 succeeded, 0 failed of 1 image');
      expect(await newest.textContent()).toContain('1 product');
      expect(await newest.textContent()).not.toMatch(/\b1 (products|images)\b/);
      const total = (await fetch(`${base}/api/v1/requests?limit=1`, { headers: { 'x-api-key': API_KEY } }).then((r) =>
        r.json(),
      )) as { total: number };
      expect(await pager.textContent()).toBe(`Page 1 of ${Math.ceil(total.total / 10)} · 1–10 of ${total.total}`);
      await screenshot(page, 'requests-list');
      expect(await seriousViolations(page)).toEqual([]);

      // The page is in the URL: a reload keeps it, and Newer still knows the way back.
      await page.getByRole('button', { name: 'Older' }).click();
      await waitUntil('the second page', async () => (await names())[0] === newestFirst[10]);
      expect(page.url()).toMatch(/\/requests\?page=2&cursor=[\w-]+$/);
      await page.reload();
      await waitUntil('the second page after a reload', async () => (await names())[0] === newestFirst[10]);
      expect((await names()).slice(0, 2)).toEqual(newestFirst.slice(10, 12));
      expect(await pager.textContent()).toMatch(/^Page 2 of \d+ · 11–\d+ of \d+$/);
      expect(await page.getByRole('button', { name: 'Newer' }).isEnabled()).toBe(true);
      await page.getByRole('button', { name: 'Newer' }).click();
      await waitUntil('the first page again', async () => (await names())[0] === newestFirst[0]);
      expect(page.url()).toBe(`${base}/requests`);

      // The filter too; Back returns to the list as it was before it.
      await page.getByLabel('Status').selectOption('failed');
      const onlyFailed = async () => {
        const shown = await names();
        return shown.length > 0 && shown[0] === 'list-11.csv';
      };
      await waitUntil('only failed requests', onlyFailed);
      expect(page.url()).toBe(`${base}/requests?status=failed`);
      await page.reload();
      await waitUntil('only failed requests after a reload', onlyFailed);
      expect(await page.getByLabel('Status').inputValue()).toBe('failed');
      expect((await names()).filter((name) => name.startsWith('list-'))).toEqual(
        newestFirst.filter((_, i) => i % 2 === 1),
      );
      expect(new Set(await page.locator('.request-item .badge').allTextContents())).toEqual(new Set(['Failed']));
      await page.goBack();
      await waitUntil('every status again', async () => (await names())[0] === newestFirst[0]);
      expect(await page.getByLabel('Status').inputValue()).toBe('');

      // A part of an id is refused with what to do, not sent.
      await page.getByLabel('Request id').fill(newestId.slice(0, 8));
      await page.getByRole('button', { name: 'Open' }).click();
      await page.getByRole('alert').filter({ hasText: 'Enter the whole request id' }).waitFor();
      expect(page.url()).toBe(`${base}/requests`);

      // A request made elsewhere (here, through the API) appears in the open list without a reload, though
      // everything listed has finished; while it runs it moves to its end, still without one.
      // Two images of one host, fetched one after the other, each under the suite's FETCH_TIMEOUT_MS (3 s):
      // over four seconds open, long enough to see the request open first.
      for (const path of ['/list-slow.jpg', '/list-slow-2.jpg'])
        images.route(path, { body: images.images.get('/photo.jpg')!, type: 'image/jpeg', delayMs: 2200 });
      const navigations: string[] = [];
      page.on('framenavigated', (frame) => navigations.push(frame.url()));
      const slow = await uploadThroughApi(
        'list-slow.csv',
        csv([`1,Slow,"${images.url('/list-slow.jpg')},${images.url('/list-slow-2.jpg')}"`]),
      );
      const slowItem = page.locator('.request-item', { hasText: 'list-slow.csv' });
      await slowItem.waitFor({ timeout: 15_000 });
      expect(navigations).toEqual([]);
      expect(await slowItem.locator('.badge').textContent()).not.toBe('Completed');
      await slowItem.locator('.badge', { hasText: 'Completed' }).waitFor({ timeout: 15_000 });
      expect(await slowItem.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
      expect((await statusOf(slow))?.status).toBe('completed');
    },
    BUDGET_MS,
  );

  it(
    'deletes a finished request after a confirmation, and not before',
    async () => {
      images.route('/doomed.jpg', { body: images.images.get('/photo.jpg')!, type: 'image/jpeg', delayMs: 2500 });
      const id = await uploadThroughApi('to-delete.csv', csv([`1,Doomed,${images.url('/doomed.jpg')}`]));
      await withKey(`/requests/${id}`);
      const deleteButton = page.getByRole('button', { name: 'Delete', exact: true });
      await deleteButton.waitFor();
      // The server refuses to delete a running request (409); the page does not offer it.
      expect(await deleteButton.isDisabled()).toBe(true);
      await page.getByText('Completed', { exact: true }).waitFor({ timeout: 15_000 });
      expect(await deleteButton.isEnabled()).toBe(true);

      // Backing out keeps the request.
      await deleteButton.click();
      const dialog = page.getByRole('alertdialog');
      await dialog.waitFor();
      expect(await page.evaluate('document.activeElement.textContent')).toBe('Yes, delete it');
      await screenshot(page, 'delete-confirmation');
      expect(await seriousViolations(page)).toEqual([]);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      expect((await statusOf(id))?.completed).toBe(true);

      await deleteButton.click();
      await page.getByRole('button', { name: 'Yes, delete it' }).click();
      await page.waitForURL(`${base}/requests`);
      await page.locator('.request-item').first().waitFor();
      expect(await page.locator('.request-item', { hasText: 'to-delete.csv' }).count()).toBe(0);
      expect(await statusOf(id)).toBeNull();
    },
    BUDGET_MS,
  );

  it(
    'says which source host a waiting request is paused on, and until when',
    async () => {
      // A host of its own (never fetched while paused), so the pause holds up no other test's images.
      const host = 'paused-cdn.test:80';
      const until = new Date(Date.now() + 60 * 60_000);
      const { databaseUrl, deployment } = testConfig(env);
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      try {
        await db.query('INSERT INTO source_host (deployment, host, paused_until) VALUES ($1, $2, $3)', [
          deployment,
          host,
          until,
        ]);
        const id = await uploadThroughApi('paused.csv', csv(['1,Held Vase,http://paused-cdn.test/vase.jpg']));
        await withKey(`/requests/${id}`);
        const notice = page.getByRole('status').filter({ hasText: 'Waiting' });
        await notice.waitFor();
        expect(await notice.textContent()).toMatch(
          /^Waiting: paused-cdn\.test:80 asked us to slow down \(HTTP 429 or 503\); its images resume at .+\.$/,
        );
        const shownUntil = () => notice.locator('time').getAttribute('datetime');
        expect(await shownUntil()).toBe(until.toISOString());
        await screenshot(page, 'paused-host');
        expect(await seriousViolations(page)).toEqual([]);

        // The host asks again while the page is open: progress events carry counts only, so the
        // page reads the status again once the stream has been quiet a while (5 s).
        const later = new Date(until.getTime() + 60_000);
        await db.query('UPDATE source_host SET paused_until = $3 WHERE deployment = $1 AND host = $2', [
          deployment,
          host,
          later,
        ]);
        await waitUntil('the later pause on the page', async () => (await shownUntil()) === later.toISOString());
        const cancelled = await fetch(`${base}/api/v1/requests/${id}/cancel`, {
          method: 'POST',
          headers: { 'x-api-key': API_KEY },
        });
        expect(cancelled.status).toBe(200);
      } finally {
        await db.query('DELETE FROM source_host WHERE deployment = $1 AND host = $2', [deployment, host]);
        await db.end();
      }
    },
    BUDGET_MS,
  );

  /** The fill colour of the request's progress bar, as the browser paints it. */
  const fillColour = (scope: string) =>
    page.evaluate<string>(
      `getComputedStyle(document.querySelector(${JSON.stringify(`${scope} .progress-fill`)})).backgroundColor`,
    );
  const GREEN = 'rgb(26, 127, 55)';

  it(
    'cancels a running request and shows it as cancelled: its count, no green bar, its images marked',
    async () => {
      for (let i = 1; i <= 12; i++) {
        images.route(`/cancel-${i}.jpg`, { body: images.images.get('/photo.jpg')!, type: 'image/jpeg', delayMs: 2500 });
      }
      const rows = Array.from({ length: 12 }, (_, i) => `${i + 1},Item ${i + 1},${images.url(`/cancel-${i + 1}.jpg`)}`);
      const id = await uploadThroughApi('to-cancel.csv', csv(rows));
      await withKey(`/requests/${id}`);
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: /^Cancelled: \d+ images? will not be processed\.$/ })
        .waitFor();
      await page.locator('.badge', { hasText: 'Cancelled' }).waitFor();

      const stat = (name: string) =>
        page.locator('.stats div', { has: page.locator(`dt:text-is("${name}")`) }).locator('dd');
      const cancelled = Number(await stat('Cancelled').textContent());
      expect(cancelled).toBeGreaterThan(0);
      const [done, total] = (await stat('Processed').textContent())!.split(' of ').map(Number);
      expect(total).toBe(12);
      expect(done).toBe(12 - cancelled);
      expect(await fillColour('.card')).not.toBe(GREEN);
      expect(await page.locator('.progress-fill.fill-cancelled').count()).toBe(1);
      // The bar shows what was processed, not the server's share of images with any end (cancelled included).
      expect(await page.getByRole('progressbar').getAttribute('aria-valuenow')).toBe(
        String(Math.round((done * 100) / 12)),
      );
      await page.getByText('Cancelled before it was processed').first().waitFor();
      expect(await page.getByText('Cancelled before it was processed').count()).toBe(cancelled);
      // What a retry would take is named on its button.
      await page.getByRole('button', { name: 'Retry cancelled images' }).waitFor();
      await screenshot(page, 'request-cancelled');
      expect(await seriousViolations(page)).toEqual([]);

      // The list says the same: the badge in words and a bar that is not green.
      await page.getByRole('link', { name: 'Requests', exact: true }).click();
      const item = page.locator('.request-item', { hasText: 'to-cancel.csv' });
      await item.locator('.badge', { hasText: 'Cancelled' }).waitFor();
      expect(await item.textContent()).toContain(`${cancelled} cancelled`);
      expect(await item.locator('.progress-fill.fill-cancelled').count()).toBe(1);
    },
    BUDGET_MS,
  );

  it(
    'retries a request whose image failed once, says which round it is on, and downloads the images as a ZIP',
    async () => {
      // Not found the first time (a failure no job retry cures), there on the retry.
      images.route('/flaky-once.jpg', (hit) =>
        hit === 1
          ? { status: 404, type: 'text/plain', body: 'not yet' }
          : { body: images.images.get('/photo.jpg')!, type: 'image/jpeg' },
      );
      const id = await uploadThroughApi(
        'flaky.csv',
        csv([`1,Steady,${images.url('/photo2.jpg')}`, `2,Flaky,${images.url('/flaky-once.jpg')}`]),
      );
      await withKey(`/requests/${id}`);
      await page.getByText('Completed, some images failed').waitFor({ timeout: 15_000 });
      expect(await page.locator('.progress-fill.fill-completed_with_errors').count()).toBe(1);
      expect(await fillColour('.card')).not.toBe(GREEN);

      await page.getByRole('button', { name: 'Retry failed images' }).click();
      await page.getByRole('status').filter({ hasText: 'Retry round 1 started: 1 image queued again.' }).waitFor();
      expect(await page.locator('.round').textContent()).toBe(' · retry round 1');
      await page.locator('.badge', { hasText: /^Completed$/ }).waitFor({ timeout: 15_000 });
      expect(await fillColour('.card')).toBe(GREEN);
      expect(await page.getByRole('button', { name: /^Retry/ }).count()).toBe(0);

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download images (ZIP)' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('flaky-images.zip');
      const zip = readFileSync(await download.path());
      expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
      await screenshot(page, 'request-retried');
    },
    BUDGET_MS,
  );

  it(
    'shows on a re-run how many images were unchanged and copied, and unticking reuse fetches every image anew',
    async () => {
      const photo = images.images.get('/photo.jpg')!;
      // Two files behind ETags, answered 304 when asked with If-None-Match, as a supplier's CDN does.
      for (const path of ['/rerun-mug.jpg', '/rerun-lamp.jpg']) {
        images.route(path, (_hit, request) =>
          request.headers['if-none-match'] === `"${path}"`
            ? { status: 304, headers: { etag: `"${path}"` } }
            : { body: photo, type: 'image/jpeg', headers: { etag: `"${path}"` } },
        );
      }
      // No validators: only its bytes tell that it has not changed.
      images.route('/rerun-chair.jpg', { body: images.images.get('/photo2.jpg')!, type: 'image/jpeg' });
      // Replaced after the first upload: new bytes, fetched anew.
      images.route('/rerun-desk.jpg', (hit) =>
        hit === 1 ? { body: photo, type: 'image/jpeg' } : { body: images.images.get('/alpha.png')!, type: 'image/png' },
      );
      const catalogue = csv([
        `1,Mug,${images.url('/rerun-mug.jpg')}`,
        `2,Lamp,${images.url('/rerun-lamp.jpg')}`,
        `3,Chair,${images.url('/rerun-chair.jpg')}`,
        `4,Desk,${images.url('/rerun-desk.jpg')}`,
      ]);
      const reuseBox = page.getByLabel('Reuse unchanged images from earlier uploads');

      /** Uploads the catalogue through the form, reuse ticked or not, and waits for its end; answers its options. */
      async function upload(reuse: boolean): Promise<{ reuse: boolean }> {
        await page.goto(`${base}/`);
        await page
          .getByLabel('CSV file')
          .setInputFiles({ name: 'catalogue.csv', mimeType: 'text/csv', buffer: catalogue });
        await page.getByRole('region', { name: 'What the service read' }).waitFor();
        // On by default: a re-run saves work unless someone asks otherwise.
        expect(await reuseBox.isChecked()).toBe(true);
        if (!reuse) await reuseBox.uncheck();
        await page.getByRole('button', { name: 'Upload' }).click();
        await page.waitForURL(/\/requests\/[0-9a-f-]{36}$/);
        await page.locator('.badge', { hasText: /^Completed$/ }).waitFor({ timeout: 15_000 });
        const requestId = page.url().split('/').pop()!;
        const status = await fetch(`${base}/api/v1/requests/${requestId}`, { headers: { 'x-api-key': API_KEY } });
        return ((await status.json()) as { options: { reuse: boolean } }).options;
      }

      await withKey('/');
      expect(await upload(true)).toEqual(expect.objectContaining({ reuse: true }));
      // A first upload has nothing to say about re-runs.
      await page.locator('.products img').first().waitFor();
      expect(await page.getByText('Re-run:').count()).toBe(0);
      expect(await page.getByText(/^Copied:/).count()).toBe(0);

      expect(await upload(true)).toEqual(expect.objectContaining({ reuse: true }));
      await page
        .getByText(
          'Re-run: 3 images unchanged since an earlier upload, copied instead of compressed again ' +
            '(2 confirmed by the image host, 1 downloaded with the same bytes); 1 fetched anew.',
        )
        .waitFor();
      // Each copied image says how it was known to be unchanged.
      await page.getByText('Copied: unchanged, the same bytes as before').waitFor();
      expect(await page.getByText('Copied: unchanged, confirmed by the image host').count()).toBe(2);
      await page.evaluate('window.scrollTo(0, 0)');
      await screenshot(page, 'request-rerun');
      expect(await seriousViolations(page)).toEqual([]);

      // Unticked, the form sends reuse=false: the server stores it, and every image is fetched again.
      expect(await upload(false)).toEqual(expect.objectContaining({ reuse: false }));
      await page.getByText('Reuse was off for this upload: every image is fetched and compressed anew.').waitFor();
      await page.locator('.products img').first().waitFor();
      expect(await page.getByText('Re-run:').count()).toBe(0);
      expect(await page.getByText(/^Copied:/).count()).toBe(0);
    },
    BUDGET_MS,
  );

  it(
    'follows the webhook log live, and offers Redeliver only once a delivery has finished',
    async () => {
      // Refused once, accepted on the scheduled retry four seconds later (WEBHOOK_RETRY_DELAYS).
      receiver.respond('/browser-hook', (hit) => (hit === 1 ? { status: 500 } : { status: 204 }));
      const form = new FormData();
      form.append(
        'file',
        new Blob([csv([`1,Hooked,${images.url('/photo.jpg')}`])], { type: 'text/csv' }),
        'hooked.csv',
      );
      form.append('webhookUrl', receiver.url('/browser-hook'));
      const created = await fetch(`${base}/api/v1/requests`, {
        method: 'POST',
        body: form,
        headers: { 'x-api-key': API_KEY },
      });
      expect(created.status).toBe(202);
      const { requestId } = (await created.json()) as { requestId: string };
      await withKey(`/requests/${requestId}`);

      const log = page.getByRole('region', { name: 'Webhook' });
      const redeliver = log.getByRole('button', { name: /^Redeliver/ });
      await log.getByText(/· pending · 1 of \d+ attempts/).waitFor({ timeout: 15_000 });
      expect(await redeliver.isDisabled()).toBe(true);
      expect(await log.textContent()).toContain('The next attempt is scheduled for');
      await screenshot(page, 'webhook-pending');

      // No reload: the log reads itself again until the retry has got through.
      await log.getByText(/· delivered · 2 of \d+ attempts/).waitFor({ timeout: 15_000 });
      expect(await redeliver.isEnabled()).toBe(true);
      expect(receiver.received('/browser-hook')).toHaveLength(2);
      expect(await seriousViolations(page)).toEqual([]);
    },
    BUDGET_MS,
  );

  it(
    'has no serious accessibility violation on any page at 1280 and at 375 px',
    async () => {
      const id = await uploadThroughApi('axe.csv', csv([`1,Checked,${images.url('/photo.jpg')}`]));
      await waitUntil('the request to finish', async () => (await statusOf(id))?.completed === true);
      await withKey('/');
      for (const width of [1280, 375]) {
        await page.setViewportSize({ width, height: 800 });
        // Every route the server answers with the page (src/web/web-page.ts).
        for (const path of ['/', '/requests', `/requests/${id}`]) {
          await page.goto(`${base}${path}`);
          await page.locator('h1').waitFor();
          if (path === '/requests') await page.locator('.request-item').first().waitFor();
          if (path.startsWith('/requests/')) await page.locator('.products img').first().waitFor();
          expect({
            width,
            path,
            overflow: (await page.evaluate<number>('document.documentElement.scrollWidth')) > width,
          }).toEqual({
            width,
            path,
            overflow: false,
          });
          expect({ width, path, violations: await seriousViolations(page) }).toEqual({ width, path, violations: [] });
        }
      }
      await screenshot(page, 'request-375px');
    },
    BUDGET_MS,
  );

  it(
    'works with the keyboard alone and at 375 px wide, with no serious accessibility violation on any view',
    async () => {
      await page.setViewportSize({ width: 375, height: 800 });
      for (const path of ['/', '/requests']) {
        await page.goto(`${base}${path}`);
        await page.locator('h1').waitFor();
        expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
        expect(await seriousViolations(page)).toEqual([]);
      }
      await screenshot(page, 'requests-375px');

      // With the key stored nothing is asked for, so the order is the page's own: without it, the
      // prompt's input takes the focus whenever the access check answers, between two key presses or not.
      await withKey('/');
      await page.locator('#csv-file').waitFor({ state: 'attached' });
      const focused: string[] = [];
      for (let i = 0; i < 12 && focused.at(-1) !== 'csv-file'; i++) {
        await page.keyboard.press('Tab');
        focused.push(
          await page.evaluate<string>(
            `document.activeElement === document.body ? '' : document.activeElement.id || document.activeElement.textContent`,
          ),
        );
      }
      // A first press may only bring the focus into the page. Then every control on the way, in order.
      if (focused[0] === '') focused.shift();
      expect(focused).toEqual([
        'Skip to content',
        'pixbatch',
        'Upload',
        'Requests',
        'API docs',
        'Change API key',
        'Forget API key',
        'csv-file',
      ]);
      await screenshot(page, 'upload-375px');
    },
    BUDGET_MS,
  );

  it(
    'Swagger UI: "Try it out" on the upload with only the file answers 202 and makes full-size images',
    async () => {
      await page.goto(`${base}/docs`);
      // The key, through the page's own Authorize dialog, as a person with API_KEYS set does.
      await page.locator('.auth-wrapper button.authorize').click();
      const dialog = page.locator('.modal-ux');
      await dialog.locator('input').first().fill(API_KEY);
      await dialog.locator('.auth-btn-wrapper button.authorize').click();
      await dialog.locator('button.btn-done').click();

      const operation = page.locator('#operations-requests-createRequest');
      await operation.locator('.opblock-summary-control').click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      // Every optional field without a default is left empty; quality and format hold their defaults.
      const field = (name: string) =>
        operation.locator(`tr[data-property-name="${name}"]`).locator('input:not([type=checkbox]), select');
      await field('file').waitFor();
      const shown: Record<string, string> = {};
      for (const name of ['webhookUrl', 'webhookEvents', 'resize', 'maxWidth', 'maxHeight', 'quality', 'format'])
        shown[name] = await field(name).inputValue();
      expect(shown).toEqual({
        webhookUrl: '',
        webhookEvents: '',
        resize: '',
        maxWidth: '',
        maxHeight: '',
        quality: '50',
        format: 'keep',
      });

      await field('file').setInputFiles({
        name: 'from-swagger.csv',
        mimeType: 'text/csv',
        buffer: csv([`1,Swagger Mug,${images.url('/photo.jpg')}`]),
      });
      const [answer] = await Promise.all([
        page.waitForResponse(
          (response) => response.request().method() === 'POST' && response.url() === `${base}/api/v1/requests`,
        ),
        operation.getByRole('button', { name: 'Execute' }).click(),
      ]);
      expect(answer.status()).toBe(202);
      await operation.locator('.live-responses-table .response-col_status', { hasText: '202' }).waitFor();
      // What was sent, as the page's own curl line shows it (the browser does not expose a file upload's body):
      // the empty fields go too ("Send empty value" starts ticked), which the server takes as absent.
      const curl = (await operation.locator('.curl-command').textContent()) ?? '';
      const sent = Object.fromEntries(
        [...curl.matchAll(/-F '([^=']+)=([^']*)'/g)].map((match) => [match[1], match[2]]),
      );
      // The defaults go as they are: quality 50, format keep and, since issue 31, reuse true (the server's default).
      expect(
        Object.fromEntries(Object.entries(sent).filter(([name, value]) => name !== 'file' && value !== '')),
      ).toEqual({ quality: '50', format: 'keep', reuse: 'true' });
      const { requestId } = (await answer.json()) as { requestId: string };

      await waitUntil('the request to finish', async () => (await statusOf(requestId))?.completed === true, 30_000);
      expect((await statusOf(requestId))?.status).toBe('completed');
      const products = (await fetch(`${base}/api/v1/requests/${requestId}/products`, {
        headers: { 'x-api-key': API_KEY },
      }).then((response) => response.json())) as { items: { images: { width: number; height: number }[] }[] };
      // The image server's photo is 640×480: full size, not resized to a factor or a bound.
      expect(products.items[0].images.map(({ width, height }) => [width, height])).toEqual([[640, 480]]);
    },
    BUDGET_MS,
  );

  it('serves the page with a strict CSP and caching fit for it, leaving the API and docs as they were', async () => {
    const index = await fetch(`${base}/requests/${crypto.randomUUID()}`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy')!;
    expect(csp).toContain(`script-src 'self'`);
    expect(csp).not.toContain('unsafe-inline');
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);

    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const script = await fetch(`${base}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    for (const path of ['/assets/nope.js', '/api/v1/nope', '/files/nope', '/health/nope']) {
      const missing = await fetch(`${base}${path}`, { headers: { 'x-api-key': API_KEY } });
      expect({ path, status: missing.status, type: missing.headers.get('content-type') }).toEqual({
        path,
        status: 404,
        type: expect.stringMatching(/^application\/problem\+json/),
      });
    }
    const docs = await fetch(`${base}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-security-policy')).toContain(`style-src 'self' 'unsafe-inline'`);
    expect(docs.headers.get('content-security-policy')).toContain(`script-src 'self';`);
  });
});
