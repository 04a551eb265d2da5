import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { type PreparedRunner, PreparedStatements } from '../database/prepared-statements.js';
import { type PausedSourceHost, RequestPausedHosts } from '../requests/request-paused-hosts.js';
import { OPEN_REQUEST_STATUSES, imagesWithoutOutcome } from '../requests/request.repository.js';
import { OPEN_IMAGE_STATUSES } from './image-status.js';
import {
  type DispatchCandidate,
  EXPIRED_IMAGES,
  LEASE_NEXT_CHUNK,
  PASS_STATE,
  PAUSED_HOSTS_OF,
  REDISPATCH_ALONE,
  RELEASE_UNCLAIMED,
  SPLIT_EXPIRED_CHUNKS,
  TAKE_DISPATCH_LOCK,
  ofDeployment,
  sqlOf,
} from './image-dispatch.statements.js';

/** Hashed with the deployment into the advisory lock key that one dispatcher at a time holds. */
export const DISPATCH_LOCK_NAME = 'pixbatch:dispatch:';

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

/**
 * The dispatcher's statements: which waiting image goes to which chunk. Owner
 * of the image columns that lease work (chunk_id, lease_until, as handed
 * out), of the tenants' turns (tenant_turn) and of the source hosts' pauses
 * (source_host). A pass's statements (image-dispatch.statements.ts) are
 * prepared and run in the pass's own transaction (PreparedStatements.transaction,
 * the `tx` each of them takes), under its advisory lock, so one dispatcher at a
 * time per deployment hands out work; a pause, the status read's paused hosts
 * and the work depth stand alone.
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
  async tryTakeDispatchLock(tx: PreparedRunner, deployment: string): Promise<boolean> {
    const [row] = await tx.run(TAKE_DISPATCH_LOCK, { lock: DISPATCH_LOCK_NAME + deployment });
    return row?.acquired ?? false;
  }

  /**
   * Images leased to a chunk whose job never claimed them in time (Redis lost
   * it, or it waited too long): they wait for a chunk again. Their old job,
   * should it still run, finds nothing to claim.
   */
  async releaseUnclaimed(tx: PreparedRunner, deployment: string): Promise<number> {
    return (await tx.run(RELEASE_UNCLAIMED, { deployment })).length;
  }

  /**
   * A chunk's claim counts an attempt for each of its images (ImageWorkRepository).
   * When its worker died or hung with several of them still open, which one it
   * was on is not known: each gets its attempt back and a chunk id of its own,
   * so that expiredImages sees it alone, and the next death on it is its own.
   * An image that kills its worker thus spends its own attempts, one run
   * later, and never its neighbours'. Returns how many images were split off.
   */
  async splitExpiredChunks(tx: PreparedRunner, deployment: string): Promise<number> {
    return (await tx.run(SPLIT_EXPIRED_CHUNKS, { deployment })).length;
  }

  /** Images being worked on whose lease ran out, oldest first, locked for `tx`. */
  expiredImages(tx: PreparedRunner, deployment: string, limit: number): Promise<ExpiredImage[]> {
    return tx.run(EXPIRED_IMAGES, { deployment, limit });
  }

  /**
   * An expired image goes to a chunk of its own, so that an image that kills
   * its worker cannot take its neighbours' attempts with it again.
   */
  async redispatchAlone(tx: PreparedRunner, imageId: string, chunkId: string, leaseMs: number): Promise<boolean> {
    return (await tx.run(REDISPATCH_ALONE, { imageId, chunkId, leaseMs })).length > 0;
  }

  /**
   * What a pass decides from, in one round trip: the deployment's open
   * requests with when each and its tenant were last served (oldest request
   * first), the chunks leased and not finished per source host across every
   * deployment (what each host has in flight), and the deployment's hosts
   * paused right now.
   */
  async passState(tx: PreparedRunner, deployment: string): Promise<DispatchState> {
    const [row] = await tx.run(PASS_STATE, { deployment });
    return {
      candidates: row?.candidates ?? [],
      hostLoads: new Map(Object.entries(row?.loads ?? {})),
      pausedHosts: row?.paused ?? [],
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
    tx: PreparedRunner,
    chunk: { chunkId: string; requestId: string; tenant: string; deployment: string },
    blocked: readonly string[],
    size: number,
    leaseMs: number,
  ): Promise<{ host: string; images: number } | null> {
    const [row] = await tx.run(LEASE_NEXT_CHUNK, { ...chunk, blocked: [...blocked], size, leaseMs });
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
          .select(sql<number>`coalesce(sum(${imagesWithoutOutcome('r')}), 0)::int`.as('n'))
          .where('r.status', 'in', OPEN_REQUEST_STATUSES)
          .where((eb) => ofDeployment(eb, deployment))
          .as('left'),
      ])
      .executeTakeFirstOrThrow();
    const dispatched = row.dispatched ?? 0;
    return { dispatched, waiting: Math.max(0, (row.left ?? 0) - dispatched) };
  }
}
