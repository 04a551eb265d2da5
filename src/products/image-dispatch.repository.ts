import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { type PausedSourceHost, RequestPausedHosts } from '../requests/request-paused-hosts.js';
import { OPEN_REQUEST_STATUSES } from '../requests/request.repository.js';
import { ImageStatus } from './image-status.js';
import { OPEN_IMAGE_STATES } from './image-work.repository.js';

const OPEN_REQUEST_STATES = `(${OPEN_REQUEST_STATUSES.map((status) => `'${status}'`).join(', ')})`;

/** Hashed with the deployment into the advisory lock key that one dispatcher at a time holds. */
export const DISPATCH_LOCK_NAME = 'pixbatch:dispatch:';

/** An open request in the running for the next chunk, with when it and its tenant were last served. */
export interface DispatchCandidate {
  requestId: string;
  tenant: string;
  /** Epoch ms; null when never served. */
  tenantServedAt: number | null;
  requestServedAt: number | null;
}

/** What a pass decides from (ImageDispatchRepository.passState). */
export interface DispatchState {
  candidates: DispatchCandidate[];
  /** Chunks in flight per source host, across every deployment. */
  hostLoads: Map<string, number>;
  pausedHosts: string[];
}

interface CandidateRow {
  id: string;
  tenant: string;
  tenantServedAt: number | null;
  requestServedAt: number | null;
}

/** An image whose chunk's lease ran out while it was being worked on: its worker died or hung. */
export interface ExpiredImage {
  imageId: string;
  chunkId: string;
  requestId: string;
  attempts: number;
}

/** An image waiting for a chunk (not leased, not a repeat), for SQL on the image row aliased `i`. */
const WAITING = (i: string) =>
  `${i}.status = '${ImageStatus.Pending}' AND ${i}.chunk_id IS NULL AND ${i}.source_image_id IS NULL`;
/** …and not in backoff. */
const DUE = (i: string) => `(${i}.not_before IS NULL OR ${i}.not_before <= now())`;
/** The requests a deployment's dispatcher serves: its own, and those stored before deployments were recorded. */
const OF_DEPLOYMENT = (r: string) => `(${r}.deployment = ? OR ${r}.deployment IS NULL)`;

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
  constructor(private readonly em: EntityManager) {}

  /** Takes the pass's transaction-scoped advisory lock, or answers false when another process holds it. */
  async tryTakeDispatchLock(tx: EntityManager, deployment: string): Promise<boolean> {
    const [lock] = await tx.execute<{ acquired: boolean }[]>(
      'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS acquired',
      [DISPATCH_LOCK_NAME + deployment],
    );
    return lock?.acquired ?? false;
  }

  /**
   * Images leased to a chunk whose job never claimed them in time (Redis lost
   * it, or it waited too long): they wait for a chunk again. Their old job,
   * should it still run, finds nothing to claim.
   */
  async releaseUnclaimed(tx: EntityManager, deployment: string): Promise<number> {
    const rows = await tx.execute<{ id: string }[]>(
      `UPDATE image SET chunk_id = NULL, lease_until = NULL
        WHERE id IN (SELECT i.id FROM image i JOIN processing_request r ON r.id = i.request_id
                      WHERE i.chunk_id IS NOT NULL AND i.status = '${ImageStatus.Pending}' AND i.lease_until < now()
                        AND ${OF_DEPLOYMENT('r')}
                      ORDER BY i.id FOR UPDATE OF i SKIP LOCKED)
       RETURNING id`,
      [deployment],
    );
    return rows.length;
  }

  /** Images being worked on whose lease ran out, oldest first, locked for `tx`. */
  async expiredImages(tx: EntityManager, deployment: string, limit: number): Promise<ExpiredImage[]> {
    const rows = await tx.execute<{ id: string; chunk_id: string; request_id: string; attempts: number }[]>(
      `SELECT i.id, i.chunk_id, i.request_id, i.attempts
         FROM image i JOIN processing_request r ON r.id = i.request_id
        WHERE i.status = '${ImageStatus.Processing}' AND i.lease_until < now() AND ${OF_DEPLOYMENT('r')}
        ORDER BY i.lease_until LIMIT ? FOR UPDATE OF i SKIP LOCKED`,
      [deployment, limit],
    );
    return rows.map((row) => ({
      imageId: row.id,
      chunkId: row.chunk_id,
      requestId: row.request_id,
      attempts: row.attempts,
    }));
  }

  /**
   * An expired image goes to a chunk of its own, so that an image that kills
   * its worker cannot take its neighbours' attempts with it again.
   */
  async redispatchAlone(tx: EntityManager, imageId: string, chunkId: string, leaseMs: number): Promise<boolean> {
    const rows = await tx.execute<{ id: string }[]>(
      `UPDATE image SET status = '${ImageStatus.Pending}', chunk_id = ?, lease_until = now() + ? * interval '1 millisecond'
        WHERE id = ? AND status = '${ImageStatus.Processing}' AND lease_until < now()
       RETURNING id`,
      [chunkId, leaseMs, imageId],
    );
    return rows.length > 0;
  }

  /**
   * What a pass decides from, in one round trip: the deployment's open
   * requests with when each and its tenant were last served (oldest request
   * first), the chunks leased and not finished per source host across every
   * deployment (what each host has in flight), and the deployment's hosts
   * paused right now.
   */
  async passState(tx: EntityManager, deployment: string): Promise<DispatchState> {
    const [row] = await tx.execute<{ candidates: CandidateRow[]; loads: Record<string, number>; paused: string[] }[]>(
      `SELECT
         (SELECT coalesce(json_agg(json_build_object(
                   'id', r.id, 'tenant', r.tenant,
                   'tenantServedAt', extract(epoch FROM t.served_at) * 1000,
                   'requestServedAt', extract(epoch FROM r.dispatched_at) * 1000) ORDER BY r.created_at, r.id), '[]')
            FROM processing_request r LEFT JOIN tenant_turn t ON t.deployment = ? AND t.tenant = r.tenant
           WHERE r.status IN ${OPEN_REQUEST_STATES} AND ${OF_DEPLOYMENT('r')}) AS candidates,
         (SELECT coalesce(json_object_agg(l.host, l.chunks), '{}')
            FROM (SELECT source_host AS host, count(DISTINCT chunk_id)::int AS chunks FROM image
                   WHERE chunk_id IS NOT NULL AND status IN ${OPEN_IMAGE_STATES} GROUP BY source_host) l) AS loads,
         (SELECT coalesce(array_agg(host), '{}') FROM source_host WHERE deployment = ? AND paused_until > now())
           AS paused`,
      [deployment, deployment, deployment],
    );
    return {
      candidates: row.candidates.map((candidate) => ({
        requestId: candidate.id,
        tenant: candidate.tenant,
        tenantServedAt: candidate.tenantServedAt,
        requestServedAt: candidate.requestServedAt,
      })),
      hostLoads: new Map(Object.entries(row.loads)),
      pausedHosts: row.paused,
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
    const [row] = await tx.execute<{ host: string | null; images: number }[]>(
      `WITH RECURSIVE hosts(host) AS (
         SELECT min(i.source_host) FROM image i WHERE i.request_id = ? AND ${WAITING('i')}
         UNION ALL
         SELECT (SELECT min(i.source_host) FROM image i
                  WHERE i.request_id = ? AND ${WAITING('i')} AND i.source_host > h.host)
           FROM hosts h WHERE h.host IS NOT NULL
       ), chosen AS (
         SELECT h.host FROM hosts h
          WHERE h.host IS NOT NULL AND h.host NOT IN (SELECT jsonb_array_elements_text(?::jsonb))
            AND EXISTS (SELECT 1 FROM image i
                         WHERE i.request_id = ? AND ${WAITING('i')} AND i.source_host = h.host AND ${DUE('i')})
          LIMIT 1
       ), picked AS (
         SELECT i.id FROM image i
          WHERE i.request_id = ? AND ${WAITING('i')} AND i.source_host = (SELECT host FROM chosen) AND ${DUE('i')}
          ORDER BY i.id LIMIT ? FOR UPDATE SKIP LOCKED
       ), leased AS (
         UPDATE image i SET chunk_id = ?, lease_until = now() + ? * interval '1 millisecond'
           FROM picked p WHERE i.id = p.id
         RETURNING i.id
       ), served AS (
         -- clock_timestamp, not now(): several chunks are handed out in one transaction, in order.
         UPDATE processing_request SET dispatched_at = clock_timestamp()
          WHERE id = ? AND EXISTS (SELECT 1 FROM leased)
       ), turn AS (
         INSERT INTO tenant_turn (deployment, tenant, served_at)
         SELECT ?, ?, clock_timestamp() WHERE EXISTS (SELECT 1 FROM leased)
         ON CONFLICT (deployment, tenant) DO UPDATE SET served_at = excluded.served_at
       )
       SELECT (SELECT host FROM chosen) AS host, count(*)::int AS images FROM leased`,
      [
        chunk.requestId,
        chunk.requestId,
        JSON.stringify(blocked),
        chunk.requestId,
        chunk.requestId,
        size,
        chunk.chunkId,
        leaseMs,
        chunk.requestId,
        chunk.deployment,
        chunk.tenant,
      ],
    );
    return row?.host && row.images > 0 ? { host: row.host, images: row.images } : null;
  }

  /** A host asked to be left alone until `until` (Retry-After); a later pause already recorded stands. */
  async pauseHost(deployment: string, host: string, until: Date): Promise<void> {
    await this.em.getConnection().execute(
      `INSERT INTO source_host (deployment, host, paused_until) VALUES (?, ?, ?)
       ON CONFLICT (deployment, host) DO UPDATE SET paused_until = greatest(source_host.paused_until, excluded.paused_until)`,
      [deployment, host, until],
    );
  }

  /** The paused hosts the request has images waiting on, for its status. */
  async pausedHostsOf(requestId: string): Promise<PausedSourceHost[]> {
    const rows = await this.em.fork().execute<{ host: string; paused_until: Date }[]>(
      `SELECT h.host, h.paused_until FROM source_host h JOIN processing_request r ON r.id = ?
        WHERE h.deployment = r.deployment AND h.paused_until > now() AND r.status IN ${OPEN_REQUEST_STATES}
          AND EXISTS (SELECT 1 FROM image i WHERE i.request_id = r.id AND ${WAITING('i')} AND i.source_host = h.host)
        ORDER BY h.host`,
      [requestId],
    );
    return rows.map((row) => ({ host: row.host, until: new Date(row.paused_until) }));
  }

  /** Images dispatched to chunks and images waiting for one, across the deployment's open requests. */
  async workDepth(deployment: string): Promise<{ dispatched: number; waiting: number }> {
    const [row] = await this.em.fork().execute<{ dispatched: number; left: number }[]>(
      // The counters give what is left without reading the image rows; only
      // the dispatched ones, a bounded window, are counted from the index.
      `SELECT (SELECT count(*)::int FROM image i JOIN processing_request r ON r.id = i.request_id
                WHERE i.chunk_id IS NOT NULL AND i.status IN ${OPEN_IMAGE_STATES} AND ${OF_DEPLOYMENT('r')})
                AS dispatched,
              (SELECT coalesce(sum(r.image_count - r.images_succeeded - r.images_failed - r.images_cancelled), 0)::int
                 FROM processing_request r WHERE r.status IN ${OPEN_REQUEST_STATES} AND ${OF_DEPLOYMENT('r')}) AS left`,
      [deployment, deployment],
    );
    return { dispatched: row.dispatched, waiting: Math.max(0, row.left - row.dispatched) };
  }
}
