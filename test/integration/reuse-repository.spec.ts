import { type EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ormOptions } from '../../src/database/orm-options.js';
import { PreparedStatements } from '../../src/database/prepared-statements.js';
import { ENTITIES } from '../../src/entities.js';
import { type Learnt, ReuseRepository, type ReuseScope, urlHash } from '../../src/products/reuse.repository.js';
import { LOOKUP, REMEMBER } from '../../src/products/reuse.statements.js';
import { seedRequest } from '../factories/request.factory.js';
import { TEST_DATABASE_URL } from '../support/test-database.js';

const URL_A = 'http://images.test/a.jpg';
const URL_B = 'http://images.test/b.jpg';

function output(key: string, sha: string) {
  return { sourceXxh3: sha, outputKey: key, format: 'jpeg', bytesIn: 1000, bytesOut: 400, width: 10, height: 8 };
}

function learnt(parts: Partial<Learnt>): Learnt {
  return { validators: [], outputs: [], forgetUrls: [], forgetOutputUrls: [], ...parts };
}

/**
 * ReuseRepository on the real PostgreSQL: one lookup and one write per
 * chunk, rows scoped by tenant, options and pipeline version, and the rows
 * going with the newest request that used them.
 */
describe('ReuseRepository on PostgreSQL', () => {
  let orm: MikroORM;
  let repository: ReuseRepository;
  // Each test its own tenant: the suites share the database.
  let scope: ReuseScope;
  let n = 0;

  beforeAll(async () => {
    await prepareDatabase(TEST_DATABASE_URL);
    orm = await MikroORM.init(ormOptions(TEST_DATABASE_URL, ENTITIES));
    repository = new ReuseRepository(new PreparedStatements(orm.em));
  });

  beforeEach(() => {
    n += 1;
    scope = { tenant: `reuse-spec-${process.pid}-${n}`, optionsKey: 'opts-1', pipelineVersion: 1 };
  });

  afterAll(async () => {
    await orm?.close(true);
  });

  async function request(): Promise<string> {
    const seeded = await orm.em.fork().transactional((tx: EntityManager) => seedRequest(tx, [1]));
    return seeded.requestId;
  }

  async function rows(table: 'source_validator' | 'reusable_output', tenant = scope.tenant) {
    return orm.em.fork().execute<{ request_id: string }[]>(`SELECT * FROM ${table} WHERE tenant = ?`, [tenant]);
  }

  it('remembers validators and outputs in one write and finds them by URL', async () => {
    const requestId = await request();
    await repository.remember(
      scope,
      requestId,
      learnt({
        validators: [
          { url: URL_A, etag: '"a1"', lastModified: null, xxh3: 'sha-a' },
          { url: URL_B, etag: null, lastModified: 'Sun, 06 Dec 2026 10:00:00 GMT', xxh3: 'sha-b' },
        ],
        outputs: [{ url: URL_A, ...output('images/t/a.jpg', 'sha-a') }],
      }),
    );

    const found = await repository.lookup(scope, [URL_A, URL_B, 'http://images.test/never.jpg']);
    expect([...found.keys()].sort()).toEqual([URL_A, URL_B]);
    expect(found.get(URL_A)).toEqual({
      etag: '"a1"',
      lastModified: null,
      xxh3: 'sha-a',
      output: output('images/t/a.jpg', 'sha-a'),
    });
    // Validators without an output for these options: the URL is known, nothing to copy.
    expect(found.get(URL_B)).toMatchObject({ lastModified: 'Sun, 06 Dec 2026 10:00:00 GMT', output: null });
  });

  it('finds nothing for another tenant, other options or another pipeline version', async () => {
    const requestId = await request();
    await repository.remember(
      scope,
      requestId,
      learnt({
        validators: [{ url: URL_A, etag: '"a1"', lastModified: null, xxh3: 'sha-a' }],
        outputs: [{ url: URL_A, ...output('images/t/a.jpg', 'sha-a') }],
      }),
    );

    expect((await repository.lookup({ ...scope, tenant: `${scope.tenant}-other` }, [URL_A])).size).toBe(0);
    expect((await repository.lookup({ ...scope, optionsKey: 'opts-2' }, [URL_A])).get(URL_A)?.output).toBeNull();
    expect((await repository.lookup({ ...scope, pipelineVersion: 2 }, [URL_A])).get(URL_A)?.output).toBeNull();
  });

  it('re-points rows at the newest request, so deleting the older one keeps them', async () => {
    const first = await request();
    const second = await request();
    const both = learnt({
      validators: [{ url: URL_A, etag: '"a1"', lastModified: null, xxh3: 'sha-a' }],
      outputs: [{ url: URL_A, ...output('images/first/a.jpg', 'sha-a') }],
    });
    await repository.remember(scope, first, both);
    await repository.remember(
      scope,
      second,
      learnt({ ...both, outputs: [{ url: URL_A, ...output('images/second/a.jpg', 'sha-a') }] }),
    );

    await orm.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [first]);

    expect((await repository.lookup(scope, [URL_A])).get(URL_A)?.output?.outputKey).toBe('images/second/a.jpg');
    expect((await rows('source_validator')).map((row) => row.request_id)).toEqual([second]);
  });

  it('goes with the last request that used it: nothing is left once it is deleted', async () => {
    const requestId = await request();
    await repository.remember(
      scope,
      requestId,
      learnt({
        validators: [{ url: URL_A, etag: '"a1"', lastModified: null, xxh3: 'sha-a' }],
        outputs: [{ url: URL_A, ...output('images/t/a.jpg', 'sha-a') }],
      }),
    );

    await orm.em.fork().execute('DELETE FROM processing_request WHERE id = ?', [requestId]);

    expect(await rows('source_validator')).toEqual([]);
    expect(await rows('reusable_output')).toEqual([]);
  });

  it('forgets a no-store URL entirely, and only the output of a vanished file', async () => {
    const requestId = await request();
    await repository.remember(
      scope,
      requestId,
      learnt({
        validators: [
          { url: URL_A, etag: '"a1"', lastModified: null, xxh3: 'sha-a' },
          { url: URL_B, etag: '"b1"', lastModified: null, xxh3: 'sha-b' },
        ],
        outputs: [
          { url: URL_A, ...output('images/t/a.jpg', 'sha-a') },
          { url: URL_B, ...output('images/t/b.jpg', 'sha-b') },
        ],
      }),
    );
    // Another options set's output of A stays out of the vanished-file rule.
    await repository.remember(
      { ...scope, optionsKey: 'opts-2' },
      requestId,
      learnt({ outputs: [{ url: URL_B, ...output('images/t/b-2.jpg', 'sha-b') }] }),
    );

    await repository.remember(scope, requestId, learnt({ forgetUrls: [URL_A], forgetOutputUrls: [URL_B] }));

    const found = await repository.lookup(scope, [URL_A, URL_B]);
    expect(found.has(URL_A)).toBe(false);
    expect(found.get(URL_B)).toMatchObject({ etag: '"b1"', output: null });
    expect((await repository.lookup({ ...scope, optionsKey: 'opts-2' }, [URL_B])).get(URL_B)?.output?.outputKey).toBe(
      'images/t/b-2.jpg',
    );
  });

  /**
   * Plans as a pooled connection runs them (prepared, generic after five runs), on tables
   * PostgreSQL has no statistics for yet, as in a catalogue's first run or a re-run minutes
   * later: the lookup must read its URLs' rows by key, and a write with nothing to forget
   * must not read the tenant's rows at all. A join planned without statistics read all 3 000.
   */
  it('reads only its URLs by key, even before the tables have statistics', async () => {
    const requestId = await request();
    const hashes = Array.from({ length: 3000 }, (_, i) => urlHash(`http://images.test/${i}.jpg`));
    const pool = await orm.em.getConnection().getNativeClient();
    const client = await pool.connect();
    let plans: { lookup: PlanNode; remember: PlanNode };
    try {
      await client.query('BEGIN');
      // Temporary tables come first on the search path, and autovacuum never analyzes them.
      for (const table of ['source_validator', 'reusable_output']) {
        await client.query(`CREATE TEMP TABLE ${table} (LIKE public.${table} INCLUDING ALL) ON COMMIT DROP`);
      }
      await client.query(
        `INSERT INTO source_validator SELECT $1, h, '"e"', NULL, h, $2, now() FROM unnest($3::text[]) h`,
        [scope.tenant, requestId, hashes],
      );
      await client.query(
        `INSERT INTO reusable_output SELECT $1, h, $2, $3, h, 'k/' || h, 'jpeg', 1000, 400, 10, 8, $4
           FROM unnest($5::text[]) h`,
        [scope.tenant, scope.optionsKey, scope.pipelineVersion, requestId, hashes],
      );
      await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
      const explain = async (name: string, text: string, values: unknown[]) => {
        await client.query(`PREPARE ${name} AS ${text}`);
        // EXECUTE takes its values as SQL text, not as bound parameters.
        const literal = (value: unknown): string => {
          if (value === null) return 'NULL';
          if (Array.isArray(value)) {
            const elements = (value as (string | number | null)[]).map((e) =>
              e === null ? 'NULL' : JSON.stringify(`${e}`),
            );
            return client.escapeLiteral(`{${elements.join(',')}}`);
          }
          return client.escapeLiteral(`${value as string | number}`);
        };
        const result = await client.query(
          `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}(${values.map(literal).join(', ')})`,
        );
        return (result.rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0].Plan;
      };
      const wanted = hashes.slice(100, 108);
      const lookup = await explain('lookup_plan', LOOKUP.text, LOOKUP.bind({ ...scope, urlHashes: wanted }));
      const remember = await explain(
        'remember_plan',
        REMEMBER.text,
        REMEMBER.bind({
          ...scope,
          requestId,
          validatorUrls: [wanted[0]],
          etags: ['"f"'],
          lastModified: [null],
          xxh3s: ['sha'],
          outputUrls: [],
          sourceXxh3s: [],
          outputKeys: [],
          formats: [],
          bytesIn: [],
          bytesOut: [],
          widths: [],
          heights: [],
          forgetUrls: [],
          forgetOutputUrls: [],
        }),
      );
      plans = { lookup, remember };
    } finally {
      await client.query('ROLLBACK; DEALLOCATE ALL');
      client.release();
    }
    expect(rowsRead(plans.lookup)).toBeLessThanOrEqual(16);
    expect(plans.lookup['Actual Rows']).toBe(8);
    expect(rowsRead(plans.remember)).toBeLessThanOrEqual(2);
  });
});

interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows the plan's scans read from tables: what they returned plus what their filters threw away. */
function rowsRead(node: PlanNode): number {
  const own =
    /Scan$/.test(node['Node Type']) && node['Node Type'] !== 'Function Scan'
      ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops']
      : 0;
  const joinFiltered = (node['Rows Removed by Join Filter'] ?? 0) * node['Actual Loops'];
  return own + joinFiltered + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child), 0);
}
