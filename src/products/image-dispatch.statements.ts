import type { EntityManager } from '@mikro-orm/postgresql';
import { type ExpressionBuilder, type Kysely, type RawBuilder, sql } from 'kysely';
import { jsonBuildObject } from 'kysely/helpers/postgres';
import { type Param, type Tables, advisoryXactLock, prepareQuery, typedSql } from '../database/typed-sql.js';
import type { ProcessingRequest } from '../requests/processing-request.entity.js';
import { OPEN_REQUEST_STATUSES, type RequestTables, imagesWithoutOutcome } from '../requests/request.repository.js';
import { ImageStatus, OPEN_IMAGE_STATUSES } from './image-status.js';
import type { Image } from './image.entity.js';
import type { SourceHost } from './source-host.entity.js';
import type { TenantTurn } from './tenant-turn.entity.js';

/*
 * The typed statements of ImageDispatchRepository (image-dispatch.repository.ts),
 * which owns them: a dispatch pass's statements and the status read's paused
 * hosts, prepared (see PreparedStatements), and the pieces its other statements
 * share.
 */

type DispatchEntities = typeof Image | typeof ProcessingRequest | typeof TenantTurn | typeof SourceHost;
export type DispatchTables = Tables<DispatchEntities> & RequestTables;
type ImageColumn = keyof DispatchTables['image'];

export function sqlOf(em: EntityManager) {
  return typedSql<DispatchEntities, RequestTables>(em);
}

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
  /**
   * Images neither done nor in a chunk: the request's count less its
   * outcomes and its images in flight. Repeats of a URL count as waiting
   * until their first occurrence's outcome, though they are never leased.
   */
  imagesWaiting: number;
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
export function ofDeployment(
  eb: ExpressionBuilder<DispatchTables & { r: DispatchTables['processing_request'] }, 'r'>,
  deployment: string | RawBuilder<string>,
) {
  return eb.or([eb('r.deployment', '=', deployment), eb('r.deployment', 'is', null)]);
}
/** `leaseMs` from now, for a lease's end. */
function leaseEnd(leaseMs: RawBuilder<number>): RawBuilder<string> {
  return sql<string>`now() + ${leaseMs}::int * interval '1 millisecond'`;
}

/**
 * A status read's paused hosts: the API runs it on every GET of an open
 * request, beside the request row (bench, status section).
 */
export const PAUSED_HOSTS_OF = prepareQuery(
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

/*
 * A pass's statements, in the order a pass runs them. Every one runs in the
 * pass's transaction: before it took the advisory lock, a pass has read or
 * written nothing, and after, it alone hands out this deployment's work.
 */

/** The pass's transaction-scoped advisory lock (`lock`: a name, hashed), or false when another holds it. */
export const TAKE_DISPATCH_LOCK = prepareQuery(
  'dispatch.take_lock',
  (db: Kysely<DispatchTables>, param: Param<{ lock: string }>) =>
    db.selectNoFrom(advisoryXactLock(param('lock')).as('acquired')),
);

/** ImageDispatchRepository.releaseUnclaimed. */
export const RELEASE_UNCLAIMED = prepareQuery(
  'dispatch.release_unclaimed',
  (db: Kysely<DispatchTables>, param: Param<{ deployment: string }>) =>
    db
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
          .where((eb) => ofDeployment(eb, param('deployment')))
          .orderBy('i.id')
          .forUpdate(['i'])
          .skipLocked(),
      )
      .returning('id'),
);

/** ImageDispatchRepository.splitExpiredChunks. */
export const SPLIT_EXPIRED_CHUNKS = prepareQuery(
  'dispatch.split_expired_chunks',
  (db: Kysely<DispatchTables>, param: Param<{ deployment: string }>) =>
    db
      .updateTable('image')
      .set((eb) => ({ attempts: eb('attempts', '-', 1), chunk_id: sql<string>`gen_random_uuid()` }))
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('image as i')
          .innerJoin('processing_request as r', 'r.id', 'i.request_id')
          .select('i.id')
          .where(leaseRanOut('i'))
          .where((eb) => ofDeployment(eb, param('deployment')))
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
      .returning('id'),
);

/** ImageDispatchRepository.expiredImages. */
export const EXPIRED_IMAGES = prepareQuery(
  'dispatch.expired_images',
  (db: Kysely<DispatchTables>, param: Param<{ deployment: string; limit: number }>) =>
    db
      .selectFrom('image as i')
      .innerJoin('processing_request as r', 'r.id', 'i.request_id')
      .select(['i.id as imageId', 'i.chunk_id as chunkId', 'i.request_id as requestId', 'i.attempts'])
      .where(leaseRanOut('i'))
      .where((eb) => ofDeployment(eb, param('deployment')))
      .orderBy('i.lease_until')
      .limit(param('limit'))
      .forUpdate(['i'])
      .skipLocked()
      // Being worked on: its chunk is set.
      .$narrowType<{ chunkId: string }>(),
);

/** ImageDispatchRepository.redispatchAlone. */
export const REDISPATCH_ALONE = prepareQuery(
  'dispatch.redispatch_alone',
  (db: Kysely<DispatchTables>, param: Param<{ imageId: string; chunkId: string; leaseMs: number }>) =>
    db
      .updateTable('image')
      .set({ status: ImageStatus.Pending, chunk_id: param('chunkId'), lease_until: leaseEnd(param('leaseMs')) })
      .where('id', '=', param('imageId'))
      .where('status', '=', ImageStatus.Processing)
      .where('lease_until', '<', sql<string>`now()`)
      .returning('id'),
);

/** ImageDispatchRepository.passState, in one round trip. */
export const PASS_STATE = prepareQuery(
  'dispatch.pass_state',
  (db: Kysely<DispatchTables>, param: Param<{ deployment: string }>) =>
    db
      // The images in chunks not yet ended, of every deployment, per request and host: read
      // once for the hosts' loads and the requests' waiting images. At most the windows' worth.
      .with('in_flight', (db) =>
        db
          .selectFrom('image')
          .select((eb) => [
            'request_id',
            'source_host as host',
            eb.cast<number>(eb.fn.count('chunk_id').distinct(), 'integer').as('chunks'),
            eb.cast<number>(eb.fn.countAll(), 'integer').as('images'),
          ])
          .where('chunk_id', 'is not', null)
          .where('status', 'in', OPEN_IMAGE_STATUSES)
          .groupBy(['request_id', 'source_host']),
      )
      .selectNoFrom((eb) => [
        eb
          .selectFrom('processing_request as r')
          .leftJoin('tenant_turn as t', (join) =>
            join.on('t.deployment', '=', param('deployment')).onRef('t.tenant', '=', 'r.tenant'),
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
                      imagesWaiting: sql<number>`${imagesWithoutOutcome('r')} - ${eb.fn.coalesce(
                        eb
                          .selectFrom('in_flight as f')
                          .select((eb) => eb.fn.sum<number>('f.images').as('images'))
                          .whereRef('f.request_id', '=', 'r.id'),
                        sql.lit(0),
                      )}`,
                    }),
                  ])
                  .orderBy('r.created_at')
                  .orderBy('r.id'),
                sql<DispatchCandidate[]>`'[]'`,
              )
              .as('candidates'),
          )
          .where('r.status', 'in', OPEN_REQUEST_STATUSES)
          .where((eb) => ofDeployment(eb, param('deployment')))
          .as('candidates'),
        eb
          .selectFrom((eb) =>
            eb
              .selectFrom('in_flight')
              .select((eb) => ['host', eb.fn.sum<number>('chunks').as('chunks')])
              .groupBy('host')
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
          .where('deployment', '=', param('deployment'))
          .where('paused_until', '>', sql<string>`now()`)
          .as('paused'),
      ]),
);

/** ImageDispatchRepository.leaseNextChunk's values. */
export interface LeaseColumns {
  chunkId: string;
  requestId: string;
  tenant: string;
  deployment: string;
  /** Source hosts the chunk may not take: paused, or at their limit. */
  blocked: string[];
  size: number;
  leaseMs: number;
}

/** ImageDispatchRepository.leaseNextChunk. */
export const LEASE_NEXT_CHUNK = prepareQuery(
  'dispatch.lease_next_chunk',
  (db: Kysely<DispatchTables>, param: Param<LeaseColumns>) =>
    db
      .withRecursive('hosts(host)', (db) =>
        db
          .selectFrom('image as i')
          .select((eb) => eb.fn.min<string | null>('i.source_host').as('host'))
          .where('i.request_id', '=', param('requestId'))
          .where(waiting('i'))
          .unionAll(
            db
              .selectFrom('hosts as h')
              .select((eb) =>
                eb
                  .selectFrom('image as i')
                  .select((eb) => eb.fn.min('i.source_host').as('host'))
                  .where('i.request_id', '=', param('requestId'))
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
          .where('h.host', '<>', sql<string>`all(${param('blocked')}::text[])`)
          .where((eb) =>
            eb.exists(
              eb
                .selectFrom('image as i')
                .select(sql.lit(1).as('one'))
                .where('i.request_id', '=', param('requestId'))
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
          .where('i.request_id', '=', param('requestId'))
          .where(waiting('i'))
          .where('i.source_host', '=', (eb) => eb.selectFrom('chosen').select('chosen.host'))
          .where(due('i'))
          .orderBy('i.id')
          .limit(param('size'))
          .forUpdate()
          .skipLocked(),
      )
      // By key, one probe per picked image: joined instead, a plan made before the size is
      // known (a generic plan guesses a tenth of the table) reads every image row.
      .with('leased', (db) =>
        db
          .updateTable('image as i')
          .set({ chunk_id: param('chunkId'), lease_until: leaseEnd(param('leaseMs')) })
          .where('i.id', '=', sql<string>`any(array(${db.selectFrom('picked').select('picked.id')}))`)
          .returning('i.id'),
      )
      // clock_timestamp, not now(): several chunks are handed out in one transaction, in order.
      .with('served', (db) =>
        db
          .updateTable('processing_request')
          .set({ dispatched_at: sql<string>`clock_timestamp()` })
          .where('id', '=', param('requestId'))
          .where((eb) => eb.exists(eb.selectFrom('leased').select('leased.id'))),
      )
      .with('turn', (db) =>
        db
          .insertInto('tenant_turn')
          .columns(['deployment', 'tenant', 'served_at'])
          .expression(
            db
              .selectNoFrom([
                sql<string>`${param('deployment')}::text`.as('deployment'),
                sql<string>`${param('tenant')}::text`.as('tenant'),
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
      ]),
);
