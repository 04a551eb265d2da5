import type { EntityManager, InferClassEntityDB, SnakeCase } from '@mikro-orm/postgresql';
import {
  type ColumnType,
  type Compilable,
  DummyDriver,
  type InferResult,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
  sql,
} from 'kysely';

/**
 * Typed SQL: every repository writes its statements with Kysely against the
 * tables MikroORM infers from the entity classes (each declares its
 * `[EntityName]`), so a renamed or retyped property breaks the build instead
 * of a query at run time. Tables and columns keep their database names
 * (snake_case); a query names its result columns with `as` where the caller
 * wants the entity's spelling.
 *
 * database/ knows no feature: each repository names the entities it reads,
 * `Tables<typeof Image | typeof Product>`.
 */
export type Tables<Entities> = TimestampsAsText<InferClassEntityDB<Entities>>;

/**
 * MikroORM's pool reads timestamps as PostgreSQL's text (it parses them
 * itself when it hydrates an entity; `createPostgreSqlTypeParsers`), so a
 * Date column reads as a string, written as a Date or text. The inferred
 * tables say Date: this makes them say what a query returns.
 */
type TimestampsAsText<DB> = {
  [T in keyof DB]: { [C in keyof DB[T]]: DB[T][C] extends infer V ? TimestampAsText<V> : never };
};
type TimestampAsText<V> = V extends Date ? ColumnType<string, Date | string, Date | string> : V;

/**
 * Columns MikroORM's inference leaves out: a `json` property holding an
 * object (not an array) looks like a relation to it, and relations without a
 * primary key infer no column. Added back from the entity's own property types.
 */
export type JsonColumns<Entity, Keys extends keyof Entity & string> = { [K in Keys as SnakeCase<K>]: Entity[K] };

/** The EntityManager as typed SQL sees it: carrying the entities its Kysely instance infers tables from. */
type EntityManagerOf<Entities> = EntityManager & { readonly '~entities'?: readonly Entities[] };

/**
 * The Kysely instance of `em` (its transaction, when `em` is in one), typed
 * with the tables of `Entities` (plus `Extra` columns, see JsonColumns).
 */
export function typedSql<Entities, Extra = unknown>(em: EntityManager): Kysely<Tables<Entities> & Extra> {
  return (em as EntityManagerOf<Entities>).getKysely() as Kysely<Tables<Entities> & Extra>;
}

/**
 * Runs a typed statement whose failure a caller tells apart (a unique key
 * taken, …): Kysely rejects with pg's own error, where em.execute() threw
 * MikroORM's exception classes (UniqueConstraintViolationException, …), so
 * the error is converted the way the ORM converts it.
 */
export async function withDriverErrors<T>(em: EntityManager, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw error instanceof Error ? em.getDriver().convertException(error) : error;
  }
}

/** A Kysely that only compiles (PostgreSQL's dialect, no connection): for statements prepared once. */
const compiler = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Where a prepared statement's value goes, named: compiled to `$n` like any value. */
class Slot {
  constructor(readonly key: string) {}
}

/** Values of a prepared statement, by name; `param(name)` places one in the query. */
export type Param<Params> = <K extends keyof Params & string>(key: K) => RawBuilder<Params[K]>;

/** A statement compiled once from a typed query: its text runs as a named prepared statement. */
export interface PreparedQuery<Params, Row> {
  /** Unique per text: a connection that prepared a name runs that text under it (PreparedStatements). */
  readonly name: string;
  readonly text: string;
  /** The positional values (`$1`, `$2`, …) for `params`. */
  bind(params: Params): unknown[];
  /** Phantom: the type of a result row. */
  readonly '~row'?: Row;
}

/**
 * Compiles a typed query once, at module load, for PreparedStatements: the
 * values the statement takes at run time are `param('name')`, one `$n` per
 * name however often it appears. The query's own constants (a LIMIT 1, the
 * nulls it clears columns with, a `true`) are written into the text as
 * literals, as a hand-written statement has them: a generic plan then sees
 * them, and the caller binds only its own values. PostgreSQL parses and
 * plans the text once per connection.
 */
export function prepareQuery<DB, Params, C extends Compilable<unknown>>(
  name: string,
  build: (db: Kysely<DB>, param: Param<Params>) => C,
): PreparedQuery<Params, InferResult<C>[number]> {
  const param: Param<Params> = (key) => sql`${new Slot(key)}`;
  const compiled = build(compiler as Kysely<DB>, param).compile();
  const keys: string[] = [];
  // Kysely writes a value only as $n; no literal or identifier of ours contains a $.
  const text = compiled.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = compiled.parameters[Number(n) - 1];
    if (!(value instanceof Slot)) return literal(value, name);
    const index = keys.indexOf(value.key);
    return `$${index >= 0 ? index + 1 : keys.push(value.key)}`;
  });
  return {
    name,
    text,
    bind: (params) => keys.map((key) => (params as Record<string, unknown>)[key]),
  };
}

/** A constant of a prepared statement as SQL text. */
function literal(value: unknown, statement: string): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  throw new Error(`Prepared statement ${statement}: a constant of type ${typeof value} must be a param()`);
}

/** `value` as jsonb, bound as one text value (pg would send a JS array as a PostgreSQL array). */
export function jsonb<T>(value: T): RawBuilder<T> {
  return sql<T>`cast(${JSON.stringify(value)} as jsonb)`;
}

/**
 * Takes the transaction-scoped advisory lock named `name` (hashed), or
 * answers false when another transaction holds it. `em` must be in the
 * transaction the lock is for.
 */
export async function tryAdvisoryXactLock(em: EntityManager, name: string): Promise<boolean> {
  const row = await typedSql<never>(em).selectNoFrom(advisoryXactLock(name).as('acquired')).executeTakeFirst();
  return row?.acquired ?? false;
}

/** The expression tryAdvisoryXactLock selects, for a prepared statement that takes the lock (a `param`). */
export function advisoryXactLock(name: string | RawBuilder<string>): RawBuilder<boolean> {
  return sql<boolean>`pg_try_advisory_xact_lock(hashtext(${name}))`;
}
