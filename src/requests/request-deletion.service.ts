import { EntityManager } from '@mikro-orm/postgresql';
import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode, requestNotFound } from '../common/app-error.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { requestPrefix } from '../storage/storage-keys.js';
import { RequestRepository } from './request.repository.js';
import { isTerminal } from './request-status.js';

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
    private readonly requests: RequestRepository,
    private readonly storage: StorageDriver,
  ) {}

  async delete(requestId: string): Promise<void> {
    await this.em.fork().transactional(async (tx) => {
      const locked = await this.requests.lockForDeletion(tx, requestId);
      if (!locked) throw requestNotFound(requestId);
      const { status, folder } = locked;
      if (!isTerminal(status)) {
        throw new AppError(
          HttpStatus.CONFLICT,
          ErrorCode.RequestNotFinished,
          'Request not finished',
          `The request is ${status}; it can be deleted once it is completed, completed_with_errors or failed.`,
          { requestStatus: status },
        );
      }
      await this.storage.deleteByPrefix(requestPrefix(folder));
      await this.requests.deleteMany(tx, [requestId]);
    });
  }

  /**
   * Deletes up to `limit` requests that finished more than `days` ago; null
   * when another process holds the retention lock.
   */
  async deleteFinishedBefore(days: number, limit: number): Promise<number | null> {
    return this.em.fork().transactional(async (tx) => {
      const expired = await this.requests.lockFinishedBefore(tx, days, limit);
      if (!expired) return null;
      for (const folder of expired) await this.storage.deleteByPrefix(requestPrefix(folder));
      await this.requests.deleteMany(
        tx,
        expired.map((request) => request.id),
      );
      return expired.length;
    });
  }
}
