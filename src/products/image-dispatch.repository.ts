import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type ExpressionBuilder, type Kysely, type RawBuilder, sql } from 'kysely';
import { jsonBuildObject } from 'kysely/helpers/postgres';
import { PreparedStatements } from '../database/prepared-statements.js';
import { type Param, type Tables, prepareQuery, tryAdvisoryXactLock, typedSql } from '../database/typed-sql.js';
import type { ProcessingRequest } from '../requests/processing-request.entity.js';
import { type PausedSourceHost, RequestPausedHosts } from '../requests/request-paused-hosts.js';
import { OPEN_REQUEST_STATUSES, type RequestTables } from '../requests/request.repository.js';
import { ImageStatus, OPEN_IMAGE_STATUSES } from './image-status.js';
import type { Image } from './image.entity.js';
import type { SourceHost } from './source-host.entity.js';
import type { TenantTurn } from './tenant-turn.entity.js';

/** Hashed with the deployment into the advisory lock key that one dispatcher at a time holds. */
export const DISPATCH_LOCK_NAME = 'pixbatch:dispatch:';

/** An open request in the running for the next chunk, with when it and its tenant were last served. */
export interface DispatchCandidate {
  requestId: string;
  tenant: string;
  /** Epoch ms; null when never served. */
  tenantServedAt: number | null;
  requestServedAt: number | null;
  /** Images with an outcome so far (succeeded or failed), and of those, copied from an earlier output. */
  imagesDone: number;
  imagesCopied: number;
}

/** What a pass decides from (ImageDispatchRepository.passState). */
export interface DispatchState {
  candidates: DispatchCandidate[];
  /** Chunks in flight per source host, across every deployment. */
  hostLoads: Map<string, number>;
  pausedHosts: string[];
}

/** An image whose chunk's lease ran out while it was being worked on: its worker died or hung. */
export interface ExpiredImage {
  imageId: string;
  chunkId: string;
  requestId: string;
  attempts: number;
}

type DispatchTables = Tables<typeof Image | typeof ProcessingRequest | typeof TenantTurn | typeof SourceHost> &
  RequestTables;
type ImageColumn = keyof DispatchTables['image'];

function sqlOf(em: EntityManager) {
  return typedSql<typeof Image | typeof ProcessingRequest | typeof TenantTurn | typeof SourceHost, RequestTables>(em);
}

/** `alias.column` of an image row, the column name checked against the entity. */
function imageColumn(alias: string, column: ImageColumn): RawBuilder<unknown> {
  return sql.ref(`${alias}.${column}`);
}

/**
 * An image waiting for a chunk (not leased, not a repeat), for SQL on the
 * image row aliased `i`: image_waiting_index's predicate, its status a
 * literal so that the index's condition is provably implied.
 */
function waiting(i: string): RawBuilder<boolean> {
  return sql<boolean>`(${imageColumn(i, 'status')} = ${sql.lit(ImageStatus.Pending)} AND ${imageColumn(i, 'chunk_id')} IS NULL AND ${imageColumn(i, 'source_image_id')} IS NULL)`;
}
/** …and not in backoff. */
function due(i: string): RawBuilder<boolean> {
  return sql<boolean>`(${imageColumn(i, 'not_before')} IS NULL OR ${imageColumn(i, 'not_before')} <= now())`;
}
/**
 * An image being worked on whose chunk's lease ran out (its worker died or
 * hung), for SQL on the image row aliased `i`: image_lease_index's
 * predicate, the status a literal as in the index.
 */
function leaseRanOut(i: string): RawBuilder<boolean> {
  return sql<boolean>`(${imageColumn(i, 'status')} = ${sql.lit(ImageStatus.Processing)} AND ${imageColumn(i, 'lease_until')} < now())`;
}
/** The requests a deployment's dispatcher serves: its own, and those stored before deployments were recorded. */
function ofDeployment(
  eb: ExpressionBuilder<DispatchTables & { r: DispatchTables['processing_request'] }, 'r'>,
  deployment: string,
) {
  return eb.or([eb('r.deployment', '=', deployment), eb('r.deployment', 'is', null)]);
}

/**
 * A status read's paused hosts, prepared: the API runs it on every GET of an
 * open request, beside the request row (bench, status section).
 */
const PAUSED_HOSTS_OF = prepareQuery(
  'source_host.paused_hosts_of',
  (db: Kysely<DispatchTables>, param: Param<{ requestId: string }>) =>
    db
      .selectFrom('source_host as h')
      .innerJoin('processing_request as r', (join) => join.on('r.id', '=', param('requestId')))
      .select(['h.host', 'h.paused_until as until'])
      .whereRef('h.deployment', '=', 'r.deployment')
      .where('h.paused_until', '>', sql<string>`now()`)
      .where('r.status', 'in', OPEN_REQUEST_STATUSES)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('image as i')
            .select(sql.lit(1).as('one'))
            .whereRef('i.request_id', '=', 'r.id')
            .where(waiting('i'))
            .whereRef('i.source_host', '=', 'h.host'),
        ),
      )
      .orderBy('h.host'),
);

/**
 * The dispatcher's statements: which waiting image goes to which chunk. Owner
 * of the image columns that lease work (chunk_id, lease_until, as handed
 * out), of the tenants' turns (tenant_turn) and of the source hosts' pauses
 * (source_host). Every statement runs in the dispatch pass's transaction,
 * under its advisory lock, so one dispatcher at a time per deployment reads
 * and writes them.
 *
 * Waiting images are found through image_waiting_index (request, source
 * host, id): a request's hosts are walked one index probe each, so a host at
 * its limit or paused is skipped without reading its images, however many.
 */
@Injectable()
export class ImageDispatchRepository implements RequestPausedHosts {
  constructor(
    private readonly em: EntityManager,
    private readonly prepared: PreparedStatements,
  ) {}

  /** Takes the pass's transaction-scoped advisory lock, or answers false when another process holds it. */
  tryTakeDispatchLock(tx: EntityManager, deployment: string): Promise<boolean> {
    return tryAdvisoryXactLock(tx, DISPATCH_LOCK_NAME + deployment);
  }

  /**
   * Images leased to a chunk whose job never claimed them in time (Redis lost
   * it, or it waited too long): they wait for a chunk again. Their old job,
   * should it still run, finds nothing to claim.
   */
  async releaseUnclaimed(tx: EntityManager, deployment: string): Promise<number> {
    const rows = await sqlOf(tx)
      .updateTable('image')
      .set({ chunk_id: null, lease_until: null })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('image as i')
          .innerJoin('processing_request as r', 'r.id', 'i.request_id')
          .select('i.id')
          .where('i.chunk_id', 'is not', null)
          .where('i.status', '=', ImageStatus.Pending)
          .where('i.lease_until', '<', sql<string>`now()`)
          .where((eb) => ofDeployment(eb, deployment))
          .orderBy('i.id')
          .forUpdate(['i'])
          .skipLocked(),
      )
      .returning('id')
      .execute();
    return rows.length;
  }

  /**
   * A chunk's claim counts an attempt for each of its images (ImageWorkRepository).
   * When its worker died or hung with several of them still open, which one it
   * was on is not known: each gets its attempt back and a chunk id of its own,
   * so that expiredImages sees it alone, and the next death on it is its own.
   * An image that kills its worker thus spends its own attempts, one run
   * later, and never its neighbours'. Returns how many images were split off.
   */
  async splitExpiredChunks(tx: EntityManager, deployment: string): Promise<number> {
    const rows = await sqlOf(tx)
      .updateTable('image')
      .set((eb) => ({ attempts: eb('attempts', '-', 1), chunk_id: sql<string>`gen_random_uuid()` }))
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('image as i')
          .innerJoin('processing_request as r', 'r.id', 'i.request_id')
          .select('i.id')
          .where(leaseRanOut('i'))
          .where((eb) => ofDeployment(eb, deployment))
          .where('i.chunk_id', 'in', (eb) =>
            eb
              .selectFrom('image as o')
              .select('o.chunk_id')
              .where(leaseRanOut('o'))
              .groupBy('o.chunk_id')
              .having((eb) => eb.fn.countAll(), '>', 1),
          )
          .orderBy('i.id')
          .forUpdate(['i'])
          .skipLocked(),
      )
      .returning('id')
      .execute();
    return rows.length;
  }

  /** Images being worked on whose lease ran out, oldest first, locked for `tx`. */
  async expiredImages(tx: EntityManager, deployment: string, limit: number): Promise<ExpiredImage[]> {
    return (
      sqlOf(tx)
        .selectFrom('image as i')
        .innerJoin('processing_request as r', 'r.id', 'i.request_id')
        .select(['i.id as imageId', 'i.chunk_id as chunkId', 'i.request_id as requestId', 'i.attempts'])
        .where(leaseRanOut('i'))
        .where((eb) => ofDeployment(eb, deployment))
        .orderBy('i.lease_until')
        .limit(limit)
        .forUpdate(['i'])
        .skipLocked()
        // Being worked on: its chunk is set.
        .$narrowType<{ chunkId: string }>()
        .execute()
    );
  }

  /**
   * An expired image goes to a chunk of its own, so that an image that kills
   * its worker cannot take its neighbours' attempts with it again.
   */
  async redispatchAlone(tx: EntityManager, imageId: string, chunkId: string, leaseMs: number): Promise<boolean> {
    const row = await sqlOf(tx)
      .updateTable('image')
      .set({
        status: ImageStatus.Pending,
        chunk_id: chunkId,
        lease_until: sql<string>`now() + ${leaseMs}::int * interval '1 millisecond'`,
      })
      .where('id', '=', imageId)
      .where('status', '=', ImageStatus.Processing)
      .where('lease_until', '<', sql<string>`now()`)
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * What a pass decides from, in one round trip: the deployment's open
   * requests with when each and its tenant were last served (oldest request
   * first), the chunks leased and not finished per source host across every
   * deployment (what each host has in flight), and the deployment's hosts
   * paused right now.
   */
  async passState(tx: EntityManager, deployment: string): Promise<DispatchState> {
    const row = await sqlOf(tx)
      .selectNoFrom((eb) => [
        eb
          .selectFrom('processing_request as r')
          .leftJoin('tenant_turn as t', (join) =>
            join.on('t.deployment', '=', deployment).onRef('t.tenant', '=', 'r.tenant'),
          )
          .select((eb) =>
            eb.fn
              .coalesce(
                eb.fn
                  .agg<DispatchCandidate[]>('json_agg', [
                    jsonBuildObject({
                      requestId: eb.ref('r.id'),
                      tenant: eb.ref('r.tenant'),
                      tenantServedAt: sql<number | null>`extract(epoch FROM ${eb.ref('t.served_at')}) * 1000`,
                      requestServedAt: sql<number | null>`extract(epoch FROM ${eb.ref('r.dispatched_at')}) * 1000`,
                      imagesDone: sql<number>`${eb.ref('r.images_succeeded')} + ${eb.ref('r.images_failed')}`,
                      imagesCopied: sql<number>`${eb.ref('r.images_revalidated')} + ${eb.ref('r.images_reused')}`,
                    }),
                  ])
                  .orderBy('r.created_at')
                  .orderBy('r.id'),
                sql<DispatchCandidate[]>`'[]'`,
              )
              .as('candidates'),
          )
          .where('r.status', 'in', OPEN_REQUEST_STATUSES)
          .where((eb) => ofDeployment(eb, deployment))
          .as('candidates'),
        eb
          .selectFrom((eb) =>
            eb
              .selectFrom('image')
              .select((eb) => [
                'source_host as host',
                eb.cast<number>(eb.fn.count('chunk_id').distinct(), 'integer').as('chunks'),
              ])
              .where('chunk_id', 'is not', null)
              .where('status', 'in', OPEN_IMAGE_STATUSES)
              .groupBy('source_host')
              .as('l'),
          )
          .select((eb) =>
            eb.fn
              .coalesce(
                sql<Record<string, number> | null>`json_object_agg(${eb.ref('l.host')}, ${eb.ref('l.chunks')})`,
                sql<Record<string, number>>`'{}'`,
              )
              .as('loads'),
          )
          .as('loads'),
        eb
          .selectFrom('source_host')
          .select((eb) =>
            eb.fn.coalesce(eb.fn.agg<string[] | null>('array_agg', ['host']), sql<string[]>`'{}'`).as('paused'),
          )
          .where('deployment', '=', deployment)
          .where('paused_until', '>', sql<string>`now()`)
          .as('paused'),
      ])
      .executeTakeFirstOrThrow();
    return {
      candidates: row.candidates ?? [],
      hostLoads: new Map(Object.entries(row.loads ?? {})),
      pausedHosts: row.paused ?? [],
    };
  }

  /**
   * Leases up to `size` due images of the request to a new chunk, all on one
   * source host outside `blocked`, in file order, and records the request and
   * its tenant as served now. The host is the first of the request's hosts
   * with an image due: the request's hosts in order, one index probe each (a
   * loose index scan), stopping at the first that has work. Returns the host
   * and how many images were leased, or null when none was.
   */
  async leaseNextChunk(
    tx: EntityManager,
    chunk: { chunkId: string; requestId: string; tenant: string; deployment: string },
    blocked: readonly string[],
    size: number,
    leaseMs: number,
  ): Promise<{ host: string; images: number } | null> {
    const row = await sqlOf(tx)
      .withRecursive('hosts(host)', (db) =>
        db
          .selectFrom('image as i')
          .select((eb) => eb.fn.min<string | null>('i.source_host').as('host'))
          .where('i.request_id', '=', chunk.requestId)
          .where(waiting('i'))
          .unionAll(
            db
              .selectFrom('hosts as h')
              .select((eb) =>
                eb
                  .selectFrom('image as i')
                  .select((eb) => eb.fn.min('i.source_host').as('host'))
                  .where('i.request_id', '=', chunk.requestId)
                  .where(waiting('i'))
                  .whereRef('i.source_host', '>', 'h.host')
                  .as('host'),
              )
              .where('h.host', 'is not', null),
          ),
      )
      .with('chosen', (db) =>
        db
          .selectFrom('hosts as h')
          .select('h.host')
          .where('h.host', 'is not', null)
          .where('h.host', '<>', sql<string>`all(${[...blocked]}::text[])`)
          .where((eb) =>
            eb.exists(
              eb
                .selectFrom('image as i')
                .select(sql.lit(1).as('one'))
                .where('i.request_id', '=', chunk.requestId)
                .where(waiting('i'))
                .whereRef('i.source_host', '=', 'h.host')
                .where(due('i')),
            ),
          )
          .limit(1),
      )
      .with('picked', (db) =>
        db
          .selectFrom('image as i')
          .select('i.id')
          .where('i.request_id', '=', chunk.requestId)
          .where(waiting('i'))
          .where('i.source_host', '=', (eb) => eb.selectFrom('chosen').select('chosen.host'))
          .where(due('i'))
          .orderBy('i.id')
          .limit(size)
          .forUpdate()
          .skipLocked(),
      )
      .with('leased', (db) =>
        db
          .updateTable('image as i')
          .from('picked as p')
          .set({
            chunk_id: chunk.chunkId,
            lease_until: sql<string>`now() + ${leaseMs}::int * interval '1 millisecond'`,
          })
          .whereRef('i.id', '=', 'p.id')
          .returning('i.id'),
      )
      // clock_timestamp, not now(): several chunks are handed out in one transaction, in order.
      .with('served', (db) =>
        db
          .updateTable('processing_request')
          .set({ dispatched_at: sql<string>`clock_timestamp()` })
          .where('id', '=', chunk.requestId)
          .where((eb) => eb.exists(eb.selectFrom('leased').select('leased.id'))),
      )
      .with('turn', (db) =>
        db
          .insertInto('tenant_turn')
          .columns(['deployment', 'tenant', 'served_at'])
          .expression(
            db
              .selectNoFrom([
                sql<string>`${chunk.deployment}`.as('deployment'),
                sql<string>`${chunk.tenant}`.as('tenant'),
                sql<string>`clock_timestamp()`.as('served_at'),
              ])
              .where((eb) => eb.exists(eb.selectFrom('leased').select('leased.id'))),
          )
          .onConflict((oc) =>
            oc.columns(['deployment', 'tenant']).doUpdateSet((eb) => ({ served_at: eb.ref('excluded.served_at') })),
          ),
      )
      .selectFrom('leased')
      .select((eb) => [
        eb.selectFrom('chosen').select('chosen.host').as('host'),
        eb.cast<number>(eb.fn.countAll(), 'integer').as('images'),
      ])
      .executeTakeFirst();
    return row?.host && row.images > 0 ? { host: row.host, images: row.images } : null;
  }

  /** A host asked to be left alone until `until` (Retry-After); a later pause already recorded stands. */
  async pauseHost(deployment: string, host: string, until: Date): Promise<void> {
    await sqlOf(this.em.fork())
      .insertInto('source_host')
      .values({ deployment, host, paused_until: until })
      .onConflict((oc) =>
        oc.columns(['deployment', 'host']).doUpdateSet((eb) => ({
          paused_until: eb.fn('greatest', ['source_host.paused_until', 'excluded.paused_until']),
        })),
      )
      .execute();
  }

  /** The paused hosts the request has images waiting on, for its status. */
  async pausedHostsOf(requestId: string): Promise<PausedSourceHost[]> {
    const rows = await this.prepared.run(PAUSED_HOSTS_OF, { requestId });
    return rows.map((row) => ({ host: row.host, until: new Date(row.until) }));
  }

  /** Images dispatched to chunks and images waiting for one, across the deployment's open requests. */
  async workDepth(deployment: string): Promise<{ dispatched: number; waiting: number }> {
    const row = await sqlOf(this.em.fork())
      // The counters give what is left without reading the image rows; only
      // the dispatched ones, a bounded window, are counted from the index.
      .selectNoFrom((eb) => [
        eb
          .selectFrom('image as i')
          .innerJoin('processing_request as r', 'r.id', 'i.request_id')
          .select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n'))
          .where('i.chunk_id', 'is not', null)
          .where('i.status', 'in', OPEN_IMAGE_STATUSES)
          .where((eb) => ofDeployment(eb, deployment))
          .as('dispatched'),
        eb
          .selectFrom('processing_request as r')
          .select((eb) =>
            sql<number>`coalesce(sum(${eb.ref('r.image_count')} - ${eb.ref('r.images_succeeded')} - ${eb.ref('r.images_failed')} - ${eb.ref('r.images_cancelled')}), 0)::int`.as(
              'n',
            ),
          )
          .where('r.status', 'in', OPEN_REQUEST_STATUSES)
          .where((eb) => ofDeployment(eb, deployment))
          .as('left'),
      ])
      .executeTakeFirstOrThrow();
    const dispatched = row.dispatched ?? 0;
    return { dispatched, waiting: Math.max(0, (row.left ?? 0) - dispatched) };
  }
}
