import { parse } from 'csv-parse/sync';
import {
  ERRORS_COLUMN,
  OUTPUT_URLS_COLUMN,
  ResultRow,
  createResultCsvStream,
  neutralizeFormula,
} from './result-csv.js';

const COLUMNS = ['S. No.', 'Product Name', 'Input Image Urls'];
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function exportCsv(columns: string[], rows: ResultRow[]): Promise<string> {
  const bytes = await readAll(createResultCsvStream(columns, rows));
  expect(bytes.subarray(0, 3)).toEqual(BOM);
  return bytes.subarray(3).toString('utf8');
}

async function exportRecords(columns: string[], rows: ResultRow[]): Promise<string[][]> {
  return parse(await exportCsv(columns, rows));
}

function row(cells: string[], outputUrls: (string | null)[] = [], errors: string[] = []): ResultRow {
  return { cells, outputUrls, errors };
}

describe('neutralizeFormula', () => {
  it.each([
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
    ['\rcmd', "'\rcmd"],
    ['  =HYPERLINK("x")', `'  =HYPERLINK("x")`],
    ['\n@cmd', "'\n@cmd"],
    ['\uFF1D1+1', "'\uFF1D1+1"],
  ])('prefixes %j with a single quote', (value, expected) => {
    expect(neutralizeFormula(value)).toBe(expected);
  });

  // OWASP's rule is about the first character only; a negative number is quoted
  // like any other cell starting with "-", which we accept.
  it('quotes plain negative numbers too', () => {
    expect(neutralizeFormula('-5')).toBe("'-5");
  });

  it.each(['', 'SKU1', 'a=b', "'=already quoted", 'https://example.com/a.jpg', ' plain', '1-2'])(
    'leaves %j alone',
    (value) => {
      expect(neutralizeFormula(value)).toBe(value);
    },
  );
});

describe('createResultCsvStream', () => {
  it('writes the input columns in order, then the output URLs and errors', async () => {
    const text = await exportCsv(
      ['Notes', ...COLUMNS, 'Brand'],
      [row(['fragile', '1', 'SKU1', 'https://example.com/a.jpg', 'Acme'], ['https://cdn.example/1.jpg'])],
    );
    expect(text).toBe(
      'Notes,S. No.,Product Name,Input Image Urls,Brand,Output Image Urls,Errors\r\n' +
        'fragile,1,SKU1,https://example.com/a.jpg,Acme,https://cdn.example/1.jpg,\r\n',
    );
    expect(OUTPUT_URLS_COLUMN).toBe('Output Image Urls');
    expect(ERRORS_COLUMN).toBe('Errors');
  });

  it('leaves an empty slot for each failed image and joins the errors', async () => {
    const records = await exportRecords(COLUMNS, [
      row(
        ['1', 'SKU1', 'https://x/1.jpg,https://x/2.jpg,https://x/3.jpg'],
        ['https://cdn/1.jpg', null, 'https://cdn/3.jpg'],
        ['https://x/2.jpg -> HTTP_404: Not Found'],
      ),
      row(
        ['2', 'SKU2', 'https://x/4.jpg,https://x/5.jpg'],
        [null, null],
        ['https://x/4.jpg -> FETCH_TIMEOUT: timed out', 'https://x/5.jpg -> NOT_AN_IMAGE: text/html'],
      ),
    ]);
    expect(records.slice(1).map((r) => r.slice(3))).toEqual([
      ['https://cdn/1.jpg,,https://cdn/3.jpg', 'https://x/2.jpg -> HTTP_404: Not Found'],
      [',', 'https://x/4.jpg -> FETCH_TIMEOUT: timed out; https://x/5.jpg -> NOT_AN_IMAGE: text/html'],
    ]);
  });

  it('pads a short row and keeps one cell per column', async () => {
    const records = await exportRecords(COLUMNS, [row(['1', 'SKU1']), row(['2', 'SKU2', 'u', 'stray'])]);
    expect(records).toEqual([
      [...COLUMNS, OUTPUT_URLS_COLUMN, ERRORS_COLUMN],
      ['1', 'SKU1', '', '', ''],
      ['2', 'SKU2', 'u', '', ''],
    ]);
  });

  it('writes only the header when there are no rows', async () => {
    expect(await exportCsv(COLUMNS, [])).toBe('S. No.,Product Name,Input Image Urls,Output Image Urls,Errors\r\n');
  });

  it('neutralizes formulas in headers, echoed cells and errors', async () => {
    const records = await exportRecords(
      [...COLUMNS, '=Header'],
      [row(['-5', '=HYPERLINK("http://evil")', 'https://x/1.jpg', '@cmd'], [null], ['+boom', 'second'])],
    );
    expect(records).toEqual([
      [...COLUMNS, "'=Header", OUTPUT_URLS_COLUMN, ERRORS_COLUMN],
      ["'-5", `'=HYPERLINK("http://evil")`, 'https://x/1.jpg', "'@cmd", '', "'+boom; second"],
    ]);
  });

  it.each(['=', '+', '-', '@', '\t', '\r'])('escapes a cell starting with %j', async (start) => {
    const records = await exportRecords(COLUMNS, [row(['1', `${start}cmd|' /C calc'!A0`, 'https://x/1.jpg'])]);
    expect(records[1][1]).toBe(`'${start}cmd|' /C calc'!A0`);
  });

  it('round-trips quotes, commas, line breaks and non-ASCII text through csv-parse', async () => {
    // The free text sits outside the URL column, which is written back normalised.
    const cells = ['1', 'He said "hi", then left', 'a\nb\r\nc\rd', 'Crème brûlée 🍮, 日本語', 'https://x/1.jpg'];
    const records = await exportRecords(
      ['S. No.', 'Product Name', 'Notes', 'More notes', 'Input Image Urls'],
      [row(cells)],
    );
    expect(records[1]).toEqual([...cells, '', '']);
  });

  it('quotes only the cells that need it', async () => {
    const columns = ['S. No.', 'Product Name', 'Notes', 'Input Image Urls'];
    const text = await exportCsv(columns, [row(['1', 'A "B"', 'x,y', 'https://x/1.jpg'])]);
    expect(text.split('\r\n')[1]).toBe('1,"A ""B""","x,y",https://x/1.jpg,,');
  });

  it('accepts a synchronous iterable', async () => {
    function* rows(): Generator<ResultRow> {
      yield row(['1', 'A', 'u'], ['o']);
    }
    const text = (await readAll(createResultCsvStream(COLUMNS, rows()))).toString('utf8');
    expect(text.endsWith('1,A,u,o,\r\n')).toBe(true);
  });

  it('streams a large export, pulling rows only as the reader consumes them', async () => {
    const total = 100_000;
    let produced = 0;
    // eslint-disable-next-line @typescript-eslint/require-await -- stands in for the database's async row source; nothing to await
    async function* rows(): AsyncGenerator<ResultRow> {
      for (let i = 1; i <= total; i++) {
        produced++;
        yield row([String(i), `Product ${i}`, `https://example.com/${i}.jpg`], [`https://cdn.example/${i}.jpg`]);
      }
    }

    const stream = createResultCsvStream(COLUMNS, rows());
    let lines = 0;
    let bytes = 0;
    let producedAtFirstChunk: number | undefined;
    for await (const chunk of stream) {
      producedAtFirstChunk ??= produced;
      bytes += (chunk as Buffer).length;
      for (const byte of chunk as Buffer) if (byte === 0x0a) lines++;
    }

    expect(producedAtFirstChunk).toBeLessThan(1000);
    expect(lines).toBe(total + 1);
    expect(bytes).toBeGreaterThan(total * 50);
  });

  it('fails the stream when the rows fail', async () => {
    // eslint-disable-next-line @typescript-eslint/require-await -- stands in for the database's async row source; nothing to await
    async function* rows(): AsyncGenerator<ResultRow> {
      yield row(['1', 'A', 'u']);
      throw new Error('database went away');
    }
    await expect(readAll(createResultCsvStream(COLUMNS, rows()))).rejects.toThrow('database went away');
  });

  it('stops pulling rows when the reader gives up', async () => {
    let released = false;
    // eslint-disable-next-line @typescript-eslint/require-await -- stands in for the database's async row source; nothing to await
    async function* rows(): AsyncGenerator<ResultRow> {
      try {
        for (let i = 0; ; i++) yield row([String(i), 'A', 'u']);
      } finally {
        released = true;
      }
    }
    const stream = createResultCsvStream(COLUMNS, rows());
    for await (const chunk of stream) {
      expect(chunk).toBeDefined();
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(true);
  });
});

describe('dialect and URL cell of the result CSV', () => {
  it("writes the upload's delimiter, still UTF-8 with a BOM and no sep= line", async () => {
    for (const delimiter of [';', '\t', '|']) {
      const bytes = await readAll(
        createResultCsvStream(
          [...COLUMNS, 'Notes'],
          [
            row(
              ['1', 'Tea; green, loose | 100g', 'https://x/1.jpg,https://x/2.jpg', 'Café'],
              ['https://cdn/1.jpg', null],
            ),
          ],
          { delimiter },
        ),
      );
      expect(bytes.subarray(0, 3)).toEqual(BOM);
      const text = bytes.subarray(3).toString('utf8');
      const header = [...COLUMNS, 'Notes', OUTPUT_URLS_COLUMN, ERRORS_COLUMN];
      expect(text.split('\r\n')[0]).toBe(header.join(delimiter));
      expect(parse(text, { delimiter })).toEqual([
        header,
        ['1', 'Tea; green, loose | 100g', 'https://x/1.jpg, https://x/2.jpg', 'Café', 'https://cdn/1.jpg,', ''],
      ]);
    }
  });

  it('normalises the Input Image Urls cell so that it splits on commas like Output Image Urls', async () => {
    const records = await exportRecords(
      ['Input URLs', 'S. No.', 'Product Name'],
      [
        row(
          [' https://x/1.jpg ,, https://x/2.jpg\nhttps://x/3.jpg,', '1', 'A'],
          ['https://cdn/1.jpg', null, 'https://cdn/3.jpg'],
        ),
        row(['https://x/4.jpg', '2', 'B'], ['https://cdn/4.jpg']),
      ],
    );
    expect(records.slice(1).map((r) => r[0])).toEqual([
      'https://x/1.jpg, https://x/2.jpg, https://x/3.jpg',
      'https://x/4.jpg',
    ]);
    for (const record of records.slice(1)) {
      expect(record[0].split(',').length).toBe(record[3].split(',').length);
    }
  });
});
