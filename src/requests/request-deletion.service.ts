import { EntityManager } from '@mikro-orm/postgresql';
import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { requestPrefix } from '../storage/storage-keys.js';
import { RequestStatus, TERMINAL_REQUEST_STATUSES, isTerminal } from './request-status.js';
import { requestNotFound } from './requests.service.js';

/** Hashed into the advisory lock key that one retention pass at a time holds. */
export const RETENTION_LOCK_NAME = 'pixbatch:retention-sweep';

const TERMINAL = `(${TERMINAL_REQUEST_STATUSES.map((status) => `'${status}'`).join(', ')})`;

/**
 * Removing finished requests, by the caller or by retention. The request row
 * is locked first (a running request is refused), its files go next, and the
 * row last, its products, images, webhook deliveries and attempts with it (ON
 * DELETE CASCADE): if anything fails midway, the request is still there, so
 * deleting it again finishes the job and no file is left without an owner.
 */
@Injectable()
export class RequestDeletion {
  constructor(
    private readonly em: EntityManager,
    private readonly storage: StorageDriver,
  ) {}

  async delete(requestId: string): Promise<void> {
    await this.em.fork().transactional(async (tx) => {
      const [row] = await tx.execute<{ status: RequestStatus; result_file_key: string | null }[]>(
        'SELECT status, result_file_key FROM processing_request WHERE id = ? FOR UPDATE',
        [requestId],
      );
      if (!row) throw requestNotFound(requestId);
      if (!isTerminal(row.status)) {
        throw new AppError(
          HttpStatus.CONFLICT,
          ErrorCode.RequestNotFinished,
          'Request not finished',
          `The request is ${row.status}; it can be deleted once it is completed, completed_with_errors or failed.`,
          { requestStatus: row.status },
        );
      }
      await this.removeFiles(requestId, row.result_file_key);
      await tx.execute('DELETE FROM processing_request WHERE id = ?', [requestId]);
    });
  }

  /**
   * Deletes up to `limit` requests that finished more than `days` ago; null
   * when another process holds the retention lock. Rows another transaction
   * holds (a DELETE by the API at that moment) are skipped, not waited for.
   */
  async deleteFinishedBefore(days: number, limit: number): Promise<number | null> {
    return this.em.fork().transactional(async (tx) => {
      const [lock] = await tx.execute<{ acquired: boolean }[]>(
        'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS acquired',
        [RETENTION_LOCK_NAME],
      );
      if (!lock?.acquired) return null;
      const expired = await tx.execute<{ id: string; result_file_key: string | null }[]>(
        `SELECT id, result_file_key FROM processing_request
          WHERE completed_at < now() - ? * interval '1 day' AND status IN ${TERMINAL}
          ORDER BY completed_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [days, limit],
      );
      for (const { id, result_file_key } of expired) await this.removeFiles(id, result_file_key);
      if (expired.length > 0) {
        await tx.execute('DELETE FROM processing_request WHERE id IN (?)', [expired.map(({ id }) => id)]);
      }
      return expired.length;
    });
  }

  private async removeFiles(requestId: string, resultFileKey: string | null): Promise<void> {
    await this.storage.deleteByPrefix(requestPrefix(requestId));
    if (resultFileKey) await this.storage.delete(resultFileKey);
  }
}
