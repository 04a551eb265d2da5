import type { EntityManager } from '@mikro-orm/postgresql';
import type { ParsedProduct } from './csv/csv-contract.js';
import { type DraftRepositories, INSERT_CHUNK, OPEN_AFTER, RequestDraft } from './request-draft.js';

const product = (row: number): ParsedProduct => ({
  rowNumber: row,
  line: row + 1,
  serialNumber: String(row),
  name: `SKU${row}`,
  urls: [`http://images.test/${row}.jpg`],
  cells: [String(row), `SKU${row}`, `http://images.test/${row}.jpg`],
});

/**
 * The draft's chunk pipeline against recording stand-ins for the transaction
 * and the repositories: the stored side is covered on PostgreSQL by
 * test/e2e/ingest.e2e-spec.ts.
 */
describe('RequestDraft', () => {
  function draftWithGate() {
    const calls: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const record = (call: string) => () => {
      calls.push(call);
      return Promise.resolve();
    };
    const tx = { begin: record('begin'), commit: record('commit'), rollback: record('rollback') };
    const em = { fork: () => tx } as unknown as EntityManager;
    let inserts = 0;
    const repositories = {
      requests: { insertDraft: record('insertDraft') },
      products: {
        insertWithImages: async (_tx: unknown, _id: string, chunk: { json: string }) => {
          const rows = (JSON.parse(chunk.json) as unknown[]).length;
          calls.push(`insert ${rows}`);
          // The first INSERT holds until the test lets it go.
          if (inserts++ === 0) await gate;
        },
      },
      images: { markRepeats: record('markRepeats') },
    } as unknown as DraftRepositories;
    const draft = new RequestDraft(em, repositories, 'catalogue.csv', 60_000, 'default');
    let row = 0;
    const add = (count: number) => {
      for (let n = 0; n < count; n++) draft.add(product(++row));
    };
    return { draft, calls, release, add };
  }

  it('writes one chunk at a time, in file order; the parser waits for the INSERT before its chunk', async () => {
    const { draft, calls, release, add } = draftWithGate();
    add(OPEN_AFTER);
    await draft.ready();
    add(INSERT_CHUNK);
    let parserWent = false;
    const parserGoesOn = draft.ready().then(() => (parserWent = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['begin', 'insertDraft', `insert ${OPEN_AFTER}`]);
    expect(parserWent).toBe(false);
    release();
    await parserGoesOn;
    await draft.commit({} as never).catch(() => {});
    expect(calls.slice(0, 4)).toEqual(['begin', 'insertDraft', `insert ${OPEN_AFTER}`, `insert ${INSERT_CHUNK}`]);
  });

  it('stores nothing queued once aborted, and rolls back what it stored', async () => {
    const { draft, calls, release, add } = draftWithGate();
    add(OPEN_AFTER);
    await draft.ready();
    add(INSERT_CHUNK);
    void draft.ready();
    const aborted = draft.abort();
    release();
    await aborted;
    expect(calls).toEqual(['begin', 'insertDraft', `insert ${OPEN_AFTER}`, 'rollback']);
  });
});
