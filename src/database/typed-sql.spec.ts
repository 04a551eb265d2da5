import type { Kysely } from 'kysely';
import { type Param, prepareQuery } from './typed-sql.js';

interface Db {
  image: { id: string; chunk_id: string | null; status: string; attempts: number };
}

describe('prepareQuery', () => {
  const statement = prepareQuery('test.start', (db: Kysely<Db>, param: Param<{ chunkId: string; imageId: string }>) =>
    db
      .updateTable('image')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), chunk_id: null }))
      .where('chunk_id', '=', param('chunkId'))
      .where('id', '=', param('imageId'))
      .where('status', 'in', ['pending', "it's"])
      .where('id', '<>', param('chunkId'))
      .returning('attempts'),
  );

  it('numbers each named value once, however often it appears, in order of first use', () => {
    expect(statement.text).toContain('"chunk_id" = $1');
    expect(statement.text).toContain('"id" = $2');
    expect(statement.text).toContain('"id" <> $1');
    expect(statement.bind({ imageId: 'i', chunkId: 'c' })).toEqual(['c', 'i']);
  });

  it("writes the query's own constants into the text as literals", () => {
    expect(statement.text).toContain('"attempts" + 1');
    expect(statement.text).toContain('"chunk_id" = NULL');
    expect(statement.text).toContain(`in ('pending', 'it''s')`);
    expect(statement.text).not.toMatch(/\$3/);
  });

  it('refuses a constant it cannot write as SQL', () => {
    expect(() =>
      prepareQuery('test.date', (db: Kysely<Db>) =>
        db
          .selectFrom('image')
          .select('id')
          .where('status', '=', new Date() as unknown as string),
      ),
    ).toThrow(/test\.date: a constant of type object must be a param\(\)/);
  });
});
