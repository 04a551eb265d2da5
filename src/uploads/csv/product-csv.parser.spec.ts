import { expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  CsvDelimiter,
  CsvErrorCode,
  CsvIssue,
  CsvLimits,
  CsvValidationError,
  MAX_REPORTED_ISSUES,
  CsvSummary,
  NotCsvError,
  ParsedProduct,
  SpreadsheetFileError,
} from './csv-contract.js';
import { parseProductCsv } from './product-csv.parser.js';

const LIMITS: CsvLimits = { csvRows: 1000, urlsPerRow: 5, urlLength: 100 };
const HEADER = 'S. No.,Product Name,Input Image Urls';
const CANONICAL = `${HEADER}\n1,SKU1,"https://example.com/a.jpg,https://example.com/b.jpg"`;

/** Yields `data` in pieces of `size` bytes, however that cuts characters or line endings. */
// eslint-disable-next-line @typescript-eslint/require-await -- stands in for an upload stream; nothing to await
async function* inChunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/** Yields `data` cut at the given byte offsets. */
// eslint-disable-next-line @typescript-eslint/require-await -- stands in for an upload stream; nothing to await
async function* cutAt(data: Buffer, ...offsets: number[]): AsyncGenerator<Buffer> {
  let start = 0;
  for (const offset of [...offsets, data.length]) {
    yield data.subarray(start, offset);
    start = offset;
  }
}

/** An upload that never ends unless the parser stops reading it. */
class EndlessUpload {
  rowsRead = 0;
  released = false;

  constructor(
    private readonly head: string,
    private readonly row: (index: number) => string,
  ) {}

  // eslint-disable-next-line @typescript-eslint/require-await -- stands in for an upload stream; nothing to await
  async *chunks(): AsyncGenerator<Buffer> {
    try {
      yield Buffer.from(this.head);
      for (;;) yield Buffer.from(this.row(++this.rowsRead));
    } finally {
      this.released = true;
    }
  }
}

interface Collected extends CsvSummary {
  products: ParsedProduct[];
}

/** Parses into a sink that keeps every product it receives. */
async function collect(input: AsyncIterable<Buffer> | NodeJS.ReadableStream, limits: CsvLimits): Promise<Collected> {
  const products: ParsedProduct[] = [];
  const summary = await parseProductCsv(input, limits, {
    header: () => {},
    add: (product) => products.push(product),
    ready: async () => {},
  });
  return { ...summary, products };
}

function parseText(text: string | Buffer, limits: CsvLimits = LIMITS, chunkSize = 64 * 1024): Promise<Collected> {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  return collect(inChunks(data, chunkSize), limits);
}

async function validationErrorOf(promise: Promise<unknown>): Promise<CsvValidationError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(CsvValidationError);
  return error as CsvValidationError;
}

async function issuesOf(text: string | Buffer, limits: CsvLimits = LIMITS): Promise<CsvIssue[]> {
  return (await validationErrorOf(parseText(text, limits))).issues;
}

function csv(...lines: string[]): string {
  return lines.join('\n');
}

describe('parseProductCsv', () => {
  describe('valid files', () => {
    it('parses the canonical sample', async () => {
      const parsed = await parseText(CANONICAL);
      expect(parsed).toEqual({
        columns: ['S. No.', 'Product Name', 'Input Image Urls'],
        dialect: { delimiter: ',', encoding: 'utf-8', sepLine: false },
        productCount: 1,
        imageCount: 2,
        products: [
          {
            rowNumber: 1,
            line: 2,
            serialNumber: '1',
            name: 'SKU1',
            urls: ['https://example.com/a.jpg', 'https://example.com/b.jpg'],
            cells: ['1', 'SKU1', 'https://example.com/a.jpg,https://example.com/b.jpg'],
          },
        ],
      });
    });

    it.each([
      ['S.No', 'Product Name', 'input_image_urls'],
      ['Serial Number', 'PRODUCT NAME', 'Input Image URLs'],
      ['sno', 'name', 'urls'],
      ['Sr. No.', 'Product', 'Image URL'],
      ['SL_NO', 'product-name', 'Input URLs'],
      ['Serial', 'Name', 'imageUrls'],
      ['  S No  ', ' Product  Name ', ' INPUT-IMAGE-URL '],
    ])('accepts the header %j, %j, %j', async (serial, name, urls) => {
      const parsed = await parseText(csv(`${serial},${name},${urls}`, '7,Shoe,https://example.com/s.jpg'));
      expect(parsed.columns).toEqual([serial.trim(), name.trim(), urls.trim()]);
      expect(parsed.products[0]).toMatchObject({
        serialNumber: '7',
        name: 'Shoe',
        urls: ['https://example.com/s.jpg'],
      });
    });

    it('finds required columns in any order and keeps extra columns in order', async () => {
      const parsed = await parseText(
        csv(
          'Notes,Input Image Urls,Brand,S. No.,Product Name,',
          'fragile,https://example.com/a.jpg,Acme,10,Anvil,',
          ',https://example.com/b.jpg,,11,Rope,x',
        ),
      );
      expect(parsed.columns).toEqual(['Notes', 'Input Image Urls', 'Brand', 'S. No.', 'Product Name', '']);
      expect(parsed.products.map((p) => [p.serialNumber, p.name, p.urls, p.cells])).toEqual([
        [
          '10',
          'Anvil',
          ['https://example.com/a.jpg'],
          ['fragile', 'https://example.com/a.jpg', 'Acme', '10', 'Anvil', ''],
        ],
        ['11', 'Rope', ['https://example.com/b.jpg'], ['', 'https://example.com/b.jpg', '', '11', 'Rope', 'x']],
      ]);
    });

    it('strips a UTF-8 BOM and reads CRLF line endings', async () => {
      const parsed = await parseText(
        Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from(`${HEADER}\r\n1,A,https://example.com/a.jpg\r\n2,B,https://example.com/b.jpg\r\n`),
        ]),
      );
      expect(parsed.columns[0]).toBe('S. No.');
      expect(parsed.products.map((p) => [p.serialNumber, p.line, p.cells[2]])).toEqual([
        ['1', 2, 'https://example.com/a.jpg'],
        ['2', 3, 'https://example.com/b.jpg'],
      ]);
    });

    it('reads mixed LF, CRLF and CR line endings', async () => {
      const parsed = await parseText(
        `${HEADER}\r\n1,A,https://example.com/a.jpg\n2,B,https://example.com/b.jpg\r3,C,https://example.com/c.jpg\r\n`,
      );
      expect(parsed.products.map((p) => [p.serialNumber, p.name, p.line])).toEqual([
        ['1', 'A', 2],
        ['2', 'B', 3],
        ['3', 'C', 4],
      ]);
    });

    it('keeps line numbers right after quoted cells that span lines', async () => {
      const parsed = await parseText(
        [
          HEADER,
          '1,"Two\r\nline name","https://example.com/a.jpg',
          'https://example.com/b.jpg"',
          '2,"Say ""hi""\nthere",https://example.com/c.jpg',
          '3,Plain,https://example.com/d.jpg',
        ].join('\r\n'),
      );
      expect(parsed.products.map((p) => [p.serialNumber, p.line, p.name, p.urls.length])).toEqual([
        ['1', 2, 'Two\r\nline name', 2],
        ['2', 5, 'Say "hi"\nthere', 1],
        ['3', 7, 'Plain', 1],
      ]);
    });

    it('skips blank and whitespace-only lines without giving them row numbers', async () => {
      const parsed = await parseText(
        [
          '',
          HEADER,
          '',
          '1,A,https://example.com/a.jpg',
          '   ',
          ' , , ',
          '',
          '2,B,https://example.com/b.jpg',
          '',
          '',
        ].join('\n'),
      );
      expect(parsed.products.map((p) => [p.rowNumber, p.line, p.serialNumber])).toEqual([
        [1, 4, '1'],
        [2, 8, '2'],
      ]);
    });

    it('keeps duplicate URLs so the output stays aligned with the input', async () => {
      const parsed = await parseText(
        csv(HEADER, '1,A,"https://example.com/a.jpg,https://example.com/a.jpg,https://example.com/b.jpg"'),
      );
      expect(parsed.products[0].urls).toEqual([
        'https://example.com/a.jpg',
        'https://example.com/a.jpg',
        'https://example.com/b.jpg',
      ]);
    });

    it('splits URLs on commas and any whitespace and ignores empty pieces', async () => {
      const cell = ' https://example.com/a.jpg ,\n\thttps://example.com/b.jpg  https://example.com/c.jpg,, ,';
      const parsed = await parseText(csv(HEADER, `1,A,"${cell}"`));
      expect(parsed.products[0].urls).toEqual([
        'https://example.com/a.jpg',
        'https://example.com/b.jpg',
        'https://example.com/c.jpg',
      ]);
      expect(parsed.products[0].cells[2]).toBe(cell);
    });

    it('stores the normalized form of each URL', async () => {
      const parsed = await parseText(
        csv(HEADER, '1,A,"HTTPS://Example.COM:443/a/../photo-é.jpg?x=1,http://example.com"'),
      );
      expect(parsed.products[0].urls).toEqual(['https://example.com/photo-%C3%A9.jpg?x=1', 'http://example.com/']);
    });

    it('trims serial numbers and names but keeps cells as uploaded', async () => {
      const parsed = await parseText(csv(HEADER, '  42 ,  Café Crème 🥐  , https://example.com/a.jpg '));
      expect(parsed.products[0]).toMatchObject({
        serialNumber: '42',
        name: 'Café Crème 🥐',
        cells: ['  42 ', '  Café Crème 🥐  ', ' https://example.com/a.jpg '],
      });
    });

    it('keeps formula-looking cells as they are (export escapes them)', async () => {
      const parsed = await parseText(csv(`${HEADER},Note`, '=1+1,=SUM(A1:A2),https://example.com/a.jpg,@cmd'));
      expect(parsed.products[0]).toMatchObject({
        serialNumber: '=1+1',
        name: '=SUM(A1:A2)',
        cells: ['=1+1', '=SUM(A1:A2)', 'https://example.com/a.jpg', '@cmd'],
      });
    });

    it('accepts a Node.js readable stream', async () => {
      const parsed = await collect(Readable.from([Buffer.from(CANONICAL)]), LIMITS);
      expect(parsed.products).toHaveLength(1);
    });
  });

  describe('streaming', () => {
    const FIXTURE = Buffer.from(
      '\uFEFF' +
        [
          'S.No,Product Name,input_image_urls,Notes',
          '1,"Crème brûlée, 🍮","https://example.com/é.jpg,https://example.com/b.jpg",ß',
          '',
          '2,"Multi',
          'line ""quoted"" name",https://example.com/c.jpg,日本語',
          '3,Last,https://example.com/d.jpg,',
        ].join('\r\n') +
        '\r\n',
    );

    it.each([1, 2, 3, 4, 5, 7, 13, 64])('gives the same result when fed %i bytes at a time', async (size) => {
      const whole = await parseText(FIXTURE);
      expect(whole.products.map((p) => p.line)).toEqual([2, 4, 6]);
      expect(await parseText(FIXTURE, LIMITS, size)).toEqual(whole);
    });

    it('handles a chunk boundary inside a multi-byte character and inside a CRLF', async () => {
      const text = `${HEADER}\r\n1,Crème 🍮,https://example.com/a.jpg\r\n2,B,https://example.com/b.jpg`;
      const data = Buffer.from(text);
      const insideE = data.indexOf(Buffer.from('è')) + 1;
      const insideEmoji = data.indexOf(Buffer.from('🍮')) + 2;
      const insideCrlf = data.indexOf('\r\n2,') + 1;
      const insideBom = 2;
      const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), data]);

      const parsed = await collect(cutAt(withBom, insideBom, insideE + 3, insideEmoji + 3, insideCrlf + 3), LIMITS);
      expect(parsed.columns[0]).toBe('S. No.');
      expect(parsed.products.map((p) => [p.name, p.line])).toEqual([
        ['Crème 🍮', 2],
        ['B', 3],
      ]);
    });
  });

  describe('sink', () => {
    const rows = (count: number) =>
      Array.from({ length: count }, (_, i) => `${i + 1},SKU${i + 1},https://example.com/${i}.jpg`);

    it('hands products over while reading and waits for the sink before reading on', async () => {
      const received: number[] = [];
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let chunksRead = 0;
      // eslint-disable-next-line @typescript-eslint/require-await -- stands in for an upload stream; nothing to await
      async function* upload(): AsyncGenerator<Buffer> {
        for (const line of [HEADER, ...rows(10)]) {
          chunksRead++;
          yield Buffer.from(`${line}\n`);
        }
      }
      const parsing = parseProductCsv(upload(), LIMITS, {
        header: () => {},
        add: (product) => received.push(product.rowNumber),
        // Holds the parser once the first product has arrived.
        ready: () => (received.length > 0 ? held : Promise.resolve()),
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received).toEqual([1]);
      // csv-parse may look one line ahead before it completes a record.
      expect(chunksRead).toBeLessThanOrEqual(4);
      release();
      expect(await parsing).toMatchObject({ productCount: 10, imageCount: 10 });
      expect(received).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('stops handing products over at the first issue but still reports every issue', async () => {
      const received: number[] = [];
      const lines = rows(6);
      lines[2] = '3,,https://example.com/2.jpg';
      lines[4] = '5,SKU5,ftp://example.com/4.jpg';
      const error = await validationErrorOf(
        parseProductCsv(inChunks(Buffer.from(csv(HEADER, ...lines)), 16), LIMITS, {
          header: () => {},
          add: (product) => received.push(product.rowNumber),
          ready: async () => {},
        }),
      );
      expect(received).toEqual([1, 2]);
      expect(error.issues.map((issue) => [issue.row, issue.code])).toEqual([
        [3, CsvErrorCode.MissingProductName],
        [5, CsvErrorCode.UnsupportedUrlScheme],
      ]);
    });

    it('ends the parse with the error of a sink that fails', async () => {
      const failure = new Error('database gone');
      await expect(
        parseProductCsv(inChunks(Buffer.from(csv(HEADER, ...rows(20))), 32), LIMITS, {
          header: () => {},
          add: () => {},
          ready: () => Promise.reject(failure),
        }),
      ).rejects.toBe(failure);
    });
  });

  describe('file and header problems', () => {
    it.each([
      ['an empty file', ''],
      ['only whitespace', ' \n\r\n\t\n'],
      ['only a BOM', '\uFEFF'],
      ['only blank cells', ',,\n , \n'],
    ])('reports EMPTY_FILE for %s', async (_, text) => {
      expect(await issuesOf(text)).toEqual([
        expect.objectContaining({ code: CsvErrorCode.EmptyFile, row: null, line: null }),
      ]);
    });

    it('reports NO_ROWS for a header without data rows', async () => {
      expect(await issuesOf(`${HEADER}\r\n\r\n`)).toEqual([
        expect.objectContaining({ code: CsvErrorCode.NoRows, row: null }),
      ]);
    });

    it('reports every missing required column with the expected header', async () => {
      const issues = await issuesOf(csv('Id,Title', '1,A'));
      expect(issues).toEqual(
        ['S. No.', 'Product Name', 'Input Image Urls'].map((column) => ({
          row: null,
          line: 1,
          column,
          columnIndex: null,
          code: CsvErrorCode.MissingColumn,
          message: expect.stringContaining(`"${column}"`),
        })),
      );
    });

    it('reports the header line when blank lines come first', async () => {
      const issues = await issuesOf('\n\nS. No.,Product Name\n1,A');
      expect(issues).toEqual([expect.objectContaining({ code: CsvErrorCode.MissingColumn, line: 3 })]);
    });

    it('reports two headers that match the same required column', async () => {
      const issues = await issuesOf(
        csv('S. No.,Name,Input Image Urls,Product Name', '1,A,https://example.com/a.jpg,B'),
      );
      expect(issues).toEqual([
        {
          row: null,
          line: 1,
          column: 'Product Name',
          columnIndex: 4,
          code: CsvErrorCode.DuplicateColumn,
          message: expect.stringContaining('"Name" (2)'),
        },
      ]);
    });

    it('reports identical header cells once, but allows several blank ones', async () => {
      const issues = await issuesOf(csv(`${HEADER},Notes,,Notes,,S. No.`, '1,A,https://example.com/a.jpg,x,,y,,1'));
      expect(issues.map((i) => [i.code, i.column, i.columnIndex])).toEqual([
        [CsvErrorCode.DuplicateColumn, 'Notes', 6],
        [CsvErrorCode.DuplicateColumn, 'S. No.', 8],
      ]);
    });

    it('stops reading when the header is unusable', async () => {
      const upload = new EndlessUpload('S. No.,Product Name\n', (i) => `${i},\n`);
      const error = await validationErrorOf(collect(upload.chunks(), LIMITS));
      expect(error.issues.map((i) => i.code)).toEqual([CsvErrorCode.MissingColumn]);
      expect(upload.released).toBe(true);
      expect(upload.rowsRead).toBeLessThan(10);
    });
  });

  describe('row problems', () => {
    it('reports a wrong number of cells, saying what was expected', async () => {
      const issues = await issuesOf(
        csv(HEADER, '1,A,https://example.com/a.jpg,https://example.com/b.jpg', '2,B', '3,C,https://example.com/c.jpg'),
      );
      expect(issues).toEqual([
        {
          row: 1,
          line: 2,
          column: null,
          columnIndex: null,
          code: CsvErrorCode.WrongColumnCount,
          message: expect.stringMatching(/Expected 3 cells .*found 4/),
        },
        expect.objectContaining({ row: 2, line: 3, code: CsvErrorCode.WrongColumnCount }),
      ]);
    });

    it('reports missing, too long and duplicate serial numbers', async () => {
      const issues = await issuesOf(
        csv(
          HEADER,
          '1,A,https://example.com/a.jpg',
          ' ,B,https://example.com/b.jpg',
          `${'9'.repeat(101)},C,https://example.com/c.jpg`,
          ' 1 ,D,https://example.com/d.jpg',
        ),
      );
      expect(issues).toEqual([
        expect.objectContaining({
          row: 2,
          line: 3,
          column: 'S. No.',
          columnIndex: 1,
          code: CsvErrorCode.MissingSerialNumber,
        }),
        expect.objectContaining({ row: 3, line: 4, column: 'S. No.', columnIndex: 1, code: CsvErrorCode.ValueTooLong }),
        {
          row: 4,
          line: 5,
          column: 'S. No.',
          columnIndex: 1,
          code: CsvErrorCode.DuplicateSerialNumber,
          message: 'Serial number "1" already appears in row 1.',
        },
      ]);
    });

    it('reports missing and too long product names, counting characters not UTF-16 units', async () => {
      const issues = await issuesOf(
        csv(
          HEADER,
          '1,   ,https://example.com/a.jpg',
          `2,${'n'.repeat(501)},https://example.com/b.jpg`,
          `3,${'🍮'.repeat(500)},https://example.com/c.jpg`,
        ),
      );
      expect(issues.map((i) => [i.row, i.column, i.columnIndex, i.code])).toEqual([
        [1, 'Product Name', 2, CsvErrorCode.MissingProductName],
        [2, 'Product Name', 2, CsvErrorCode.ValueTooLong],
      ]);
    });

    it('reports a row without URLs and a row with too many', async () => {
      const urls = Array.from({ length: 6 }, (_, i) => `https://example.com/${i}.jpg`).join(',');
      const issues = await issuesOf(csv(HEADER, '1,A," , ,"', `2,B,"${urls}"`));
      expect(issues).toEqual([
        expect.objectContaining({
          row: 1,
          column: 'Input Image Urls',
          columnIndex: 3,
          code: CsvErrorCode.MissingImageUrls,
        }),
        expect.objectContaining({
          row: 2,
          column: 'Input Image Urls',
          columnIndex: 3,
          code: CsvErrorCode.TooManyUrls,
          message: expect.stringContaining('at most 5'),
        }),
      ]);
    });

    it.each([
      ['example.com/a.jpg', CsvErrorCode.InvalidUrl],
      ['https://', CsvErrorCode.InvalidUrl],
      ['http://[::1', CsvErrorCode.InvalidUrl],
      ['https://exa<mple.com/a.jpg', CsvErrorCode.InvalidUrl],
      ['ftp://example.com/a.jpg', CsvErrorCode.UnsupportedUrlScheme],
      ['javascript:alert(1)', CsvErrorCode.UnsupportedUrlScheme],
      ['file:///etc/passwd', CsvErrorCode.UnsupportedUrlScheme],
      ['mailto:shop@example.com', CsvErrorCode.UnsupportedUrlScheme],
      ['https://user:secret@example.com/a.jpg', CsvErrorCode.UrlHasCredentials],
      ['https://user@example.com/a.jpg', CsvErrorCode.UrlHasCredentials],
      [`https://example.com/${'a'.repeat(81)}`, CsvErrorCode.UrlTooLong],
      [`https://example.com/${'é'.repeat(30)}`, CsvErrorCode.UrlTooLong],
    ])('reports %s as %s', async (url, code) => {
      const cell = `https://example.com/ok.jpg,${url}`;
      const issues = await issuesOf(csv(HEADER, `1,A,"${cell}"`));
      expect(issues).toEqual([
        {
          row: 1,
          line: 2,
          column: 'Input Image Urls',
          columnIndex: 3,
          code,
          message: expect.stringContaining(`URL 2 "`),
        },
      ]);
    });

    it('reports every bad URL of a cell and truncates long ones in messages', async () => {
      const long = `ftp://example.com/${'x'.repeat(300)}`;
      const issues = await issuesOf(
        csv(HEADER, `1,A,"ftp://a.example/1.jpg,https://example.com/ok.jpg,${long},nope"`),
        { ...LIMITS, urlLength: 1000 },
      );
      expect(issues.map((i) => i.code)).toEqual([
        CsvErrorCode.UnsupportedUrlScheme,
        CsvErrorCode.UnsupportedUrlScheme,
        CsvErrorCode.InvalidUrl,
      ]);
      expect(issues[0].message).toMatch(/^URL 1 "ftp:\/\/a\.example\/1\.jpg" uses the scheme "ftp"/);
      expect(issues[1].message).toMatch(new RegExp(`^URL 3 "${long.slice(0, 200)}…" uses`));
      expect(issues[2].message).toMatch(/^URL 4 "nope" is not an absolute URL/);
    });

    it('reports several bad rows together with their rows, lines and columns', async () => {
      const error = await validationErrorOf(
        parseText(
          [
            `Notes,${HEADER}`,
            'ok,1,A,https://example.com/a.jpg',
            '',
            'multi,2,"B',
            'c",ftp://example.com/b.jpg',
            'ok,3,,https://example.com/c.jpg',
            'ok,1,D,',
            'ok,4,E,https://example.com/e.jpg',
          ].join('\r\n'),
        ),
      );
      expect(error.issueCount).toBe(4);
      expect(error.issues.map((i) => [i.row, i.line, i.column, i.columnIndex, i.code])).toEqual([
        [2, 4, 'Input Image Urls', 4, CsvErrorCode.UnsupportedUrlScheme],
        [3, 6, 'Product Name', 3, CsvErrorCode.MissingProductName],
        [4, 7, 'S. No.', 2, CsvErrorCode.DuplicateSerialNumber],
        [4, 7, 'Input Image Urls', 4, CsvErrorCode.MissingImageUrls],
      ]);
      expect(error.message).toBe('The CSV has 4 problems');
    });

    it(`lists at most ${MAX_REPORTED_ISSUES} issues but counts them all`, async () => {
      const rows = Array.from({ length: 1500 }, (_, i) => `${i},,https://example.com/a.jpg`);
      const error = await validationErrorOf(parseText(csv(HEADER, ...rows), { ...LIMITS, csvRows: 2000 }));
      expect(error.issues).toHaveLength(MAX_REPORTED_ISSUES);
      expect(error.issueCount).toBe(1500);
      expect(error.issues[MAX_REPORTED_ISSUES - 1].row).toBe(MAX_REPORTED_ISSUES);
    });
  });

  describe('row limit', () => {
    it('accepts exactly the limit', async () => {
      const rows = Array.from({ length: 3 }, (_, i) => `${i},A,https://example.com/a.jpg`);
      const parsed = await parseText(csv(HEADER, ...rows), { ...LIMITS, csvRows: 3 });
      expect(parsed.products).toHaveLength(3);
    });

    it('reports TOO_MANY_ROWS once and stops reading the upload', async () => {
      const upload = new EndlessUpload(`${HEADER}\n`, (i) => `${i},,https://example.com/${i}.jpg\n`);

      const error = await validationErrorOf(collect(upload.chunks(), { ...LIMITS, csvRows: 10 }));
      expect(error.issues.filter((i) => i.code === CsvErrorCode.TooManyRows)).toEqual([
        {
          row: 11,
          line: 12,
          column: null,
          columnIndex: null,
          code: CsvErrorCode.TooManyRows,
          message: expect.stringContaining('10'),
        },
      ]);
      // Rows read before the limit are still reported.
      expect(error.issues.filter((i) => i.code === CsvErrorCode.MissingProductName)).toHaveLength(10);
      expect(upload.released).toBe(true);
      expect(upload.rowsRead).toBeLessThan(20);
    });
  });

  describe('malformed CSV', () => {
    it('reports an unclosed quote at the line where its record starts and stops', async () => {
      const error = await validationErrorOf(
        parseText(
          csv(
            HEADER,
            '1,A,https://example.com/a.jpg',
            '2,,https://example.com/b.jpg',
            '3,"B,https://example.com/c.jpg',
            '4,C,x',
          ),
        ),
      );
      expect(error.issues).toEqual([
        expect.objectContaining({ row: 2, code: CsvErrorCode.MissingProductName }),
        {
          row: 3,
          line: 4,
          column: null,
          columnIndex: null,
          code: CsvErrorCode.MalformedCsv,
          message: expect.stringContaining('never closed'),
        },
      ]);
    });

    it('stops reading a Node.js stream at the first malformed record', async () => {
      const upload = new EndlessUpload(
        `${HEADER}\n1,"A"x,https://example.com/a.jpg\n`,
        (i) => `${i + 1},B,https://example.com/b.jpg\n`,
      );
      const stream = Readable.from(upload.chunks());
      const issues = (await validationErrorOf(collect(stream, LIMITS))).issues;
      expect(issues.map((i) => [i.row, i.line, i.code])).toEqual([[1, 2, CsvErrorCode.MalformedCsv]]);
      expect(stream.destroyed).toBe(true);
      expect(upload.released).toBe(true);
    });

    it('reports text after a closing quote, after a multi-line record', async () => {
      const issues = await issuesOf(
        [HEADER, '1,"A\r\nB",https://example.com/a.jpg', '', '2,"B"x,https://example.com/b.jpg'].join('\r\n'),
      );
      expect(issues).toEqual([
        expect.objectContaining({
          row: 2,
          line: 5,
          code: CsvErrorCode.MalformedCsv,
          message: expect.stringContaining('closing quote'),
        }),
      ]);
    });

    it('reports a quote inside an unquoted cell', async () => {
      const issues = await issuesOf(csv(HEADER, '1,27" monitor,https://example.com/a.jpg'));
      expect(issues).toEqual([expect.objectContaining({ row: 1, line: 2, code: CsvErrorCode.MalformedCsv })]);
    });

    it('reports malformed quoting in the header row without a row number', async () => {
      const issues = await issuesOf('S. No.,"Product Name"x,Input Image Urls\n1,A,https://example.com/a.jpg');
      expect(issues).toEqual([expect.objectContaining({ row: null, line: 1, code: CsvErrorCode.MalformedCsv })]);
    });

    it('gives up on a record that grows past any sensible size', async () => {
      const runaway = `${csv(HEADER, '1,"A')}${'x'.repeat(1.2 * 1024 * 1024)}`;
      const issues = await issuesOf(runaway, { ...LIMITS, urlsPerRow: 1, urlLength: 10 });
      expect(issues).toEqual([expect.objectContaining({ row: 1, line: 2, code: CsvErrorCode.RecordTooLarge })]);
    });
  });

  describe('not a CSV', () => {
    it.each([
      ['a NUL byte', Buffer.from(`${HEADER}\n1,A\u0000,https://example.com/a.jpg`)],
      [
        'a PNG',
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52]),
      ],
      ['invalid UTF-8', Buffer.concat([Buffer.from(`${HEADER}\n1,`), Buffer.from([0xc3, 0x28]), Buffer.from(',x\n')])],
      ['Latin-1 text', Buffer.from(`${HEADER}\n1,Caf\u00e9,https://example.com/a.jpg`, 'latin1')],
      ['UTF-16 text without a BOM', Buffer.from(CANONICAL, 'utf16le')],
      [
        'UTF-16 with a BOM but a lone surrogate',
        Buffer.concat([
          Buffer.from([0xff, 0xfe]),
          Buffer.from(`${HEADER}\n1,`, 'utf16le'),
          Buffer.from([0x00, 0xd8, 0x41, 0x00]),
        ]),
      ],
      ['a character cut off at the end', Buffer.from(`${HEADER}\n1,🍮`).subarray(0, -1)],
    ])('rejects %s with NotCsvError', async (_, data) => {
      for (const size of [1, 3, data.length]) {
        await expect(collect(inChunks(data, size), LIMITS)).rejects.toBeInstanceOf(NotCsvError);
      }
    });

    it('rejects binary found after valid rows', async () => {
      const data = Buffer.concat([
        Buffer.from(`${CANONICAL}\n2,B,https://example.com/b.jpg\n`),
        Buffer.from([0xff, 0x00, 0x10]),
      ]);
      await expect(parseText(data, LIMITS, 8)).rejects.toBeInstanceOf(NotCsvError);
    });
  });

  describe('dialects', () => {
    const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/csv/${name}`, import.meta.url));

    it.each([
      [',', 'a comma'],
      [';', 'a semicolon'],
      ['\t', 'a tab'],
      ['|', 'a vertical bar'],
    ] as [CsvDelimiter, string][])('detects %j as the delimiter (%s) from the header', async (delimiter) => {
      const join = (...cells: string[]) => cells.join(delimiter);
      // Quoted cells hold every other delimiter, so counting them naively would mislead.
      const text = csv(
        join('"S. No."', 'Product Name', 'Input Image Urls', 'Notes'),
        join('1', '"Tea; green, loose | 100g\t"', '"https://example.com/a.jpg,https://example.com/b.jpg"', 'x'),
      );
      for (const size of [1, 7, 4096]) {
        const parsed = await parseText(text, LIMITS, size);
        expect(parsed.dialect).toEqual({ delimiter, encoding: 'utf-8', sepLine: false });
        expect(parsed.columns).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Notes']);
        expect(parsed.products[0]).toMatchObject({
          name: 'Tea; green, loose | 100g',
          urls: ['https://example.com/a.jpg', 'https://example.com/b.jpg'],
        });
      }
    });

    it("honours Excel's sep= line, drops it and keeps line numbers right", async () => {
      const text = `sep=;\r\nS. No.;Product Name;Input Image Urls\r\n1;A,B;https://example.com/a.jpg\r\n2;;https://example.com/b.jpg\r\n`;
      for (const size of [1, 6, 7, 4096]) {
        const error = await validationErrorOf(parseText(text, LIMITS, size));
        expect(error.issues).toEqual([
          expect.objectContaining({ row: 2, line: 4, code: CsvErrorCode.MissingProductName }),
        ]);
      }
      const parsed = await parseText(
        `\uFEFF"sep=|"\nS. No.|Product Name|Input Image Urls\n1|A;B,C|https://example.com/a.jpg`,
      );
      expect(parsed.dialect).toEqual({ delimiter: '|', encoding: 'utf-8', sepLine: true });
      expect(parsed.products[0]).toMatchObject({ line: 3, name: 'A;B,C' });
    });

    it('decodes UTF-16 LE and BE with a BOM, whatever the chunk boundaries', async () => {
      const text = `${HEADER}\r\n1,Caf\u00e9 \ud83c\udf6e,https://example.com/a.jpg\r\n`;
      const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
      const be = Buffer.from(le).swap16();
      for (const [data, encoding] of [
        [le, 'utf-16le'],
        [be, 'utf-16be'],
      ] as const) {
        for (const size of [1, 3, data.length]) {
          const parsed = await parseText(data, LIMITS, size);
          expect(parsed.dialect.encoding).toBe(encoding);
          expect(parsed.columns).toEqual(['S. No.', 'Product Name', 'Input Image Urls']);
          expect(parsed.products[0]).toMatchObject({ line: 2, name: 'Caf\u00e9 \ud83c\udf6e' });
        }
      }
    });

    it.each([
      ['xlsx', 'products.xlsx'],
      ['xls', 'products.xls'],
    ])('rejects an Excel workbook (.%s) with its own error saying to save it as CSV UTF-8', async (format, name) => {
      const data = fixture(name);
      for (const size of [1, data.length]) {
        const error = await collect(inChunks(data, size), LIMITS).catch((thrown: unknown) => thrown);
        expect(error).toBeInstanceOf(SpreadsheetFileError);
        expect(error).toMatchObject({ format, message: expect.stringContaining('CSV UTF-8') });
      }
    });

    it('names the separator it saw when the header still does not match', async () => {
      const issues = await issuesOf(csv('Id;Title;Pictures', '1;A;https://example.com/a.jpg'));
      expect(issues.map((issue) => issue.code)).toEqual([
        CsvErrorCode.MissingColumn,
        CsvErrorCode.MissingColumn,
        CsvErrorCode.MissingColumn,
      ]);
      expect(issues[0].message).toContain('The header seems separated by ";" (semicolon)');
      expect(issues[0].message).toContain('"Id", "Title", "Pictures"');
    });

    it('reads a header line with no line break in sight without holding the whole upload', async () => {
      const upload = new EndlessUpload('S. No.,', () => 'x'.repeat(4096));
      const error = await validationErrorOf(collect(upload.chunks(), LIMITS));
      expect(error.issues.map((issue) => issue.code)).toEqual([CsvErrorCode.RecordTooLarge]);
      expect(upload.released).toBe(true);
    });

    it.each([
      ['libreoffice-semicolon.csv', ';', 'utf-8', false],
      ['libreoffice-tab.csv', '\t', 'utf-8', false],
      ['libreoffice-pipe.csv', '|', 'utf-8', false],
      ['libreoffice-utf16le-tab.csv', '\t', 'utf-16le', false],
      ['libreoffice-utf16le-semicolon.csv', ';', 'utf-16le', false],
      ['utf16be-tab.csv', '\t', 'utf-16be', false],
      ['excel-sep-line.csv', ';', 'utf-8', true],
    ])('reads the spreadsheet export %s', async (name, delimiter, encoding, sepLine) => {
      const parsed = await parseText(fixture(name), LIMITS, 5);
      expect(parsed.dialect).toEqual({ delimiter, encoding, sepLine });
      expect(parsed.columns).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Notes']);
      expect(parsed.products.map((p) => [p.line, p.serialNumber, p.name, p.urls, p.cells[3]])).toEqual([
        [sepLine ? 3 : 2, '1', 'Café au lait mug', ['http://127.0.0.1/a.jpg', 'http://127.0.0.1/b.jpg'], 'crème'],
        [sepLine ? 4 : 3, '2', '日本 teapot', ['http://127.0.0.1/c.jpg'], ''],
        [
          sepLine ? 5 : 4,
          '3',
          'Tea; green, loose | 100g',
          ['http://127.0.0.1/e.jpg', 'http://127.0.0.1/f.jpg'],
          'two spaces and an empty item',
        ],
      ]);
    });
  });
});
