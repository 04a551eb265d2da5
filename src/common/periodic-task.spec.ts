import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { PeriodicTask } from './periodic-task.js';

/** A pass the test finishes by hand. */
function controlledPass() {
  const finishers: Array<(error?: Error) => void> = [];
  const pass = jest.fn(
    () =>
      new Promise<void>((resolve, reject) => {
        finishers.push((error) => (error ? reject(error) : resolve()));
      }),
  );
  return { pass, finish: (error?: Error) => finishers.shift()!(error) };
}

describe('PeriodicTask', () => {
  const logger = new Logger('test');
  let warn: jest.SpiedFunction<Logger['warn']>;

  beforeEach(() => {
    jest.useFakeTimers();
    warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('never starts a pass while the previous one runs', async () => {
    const { pass, finish } = controlledPass();
    const task = new PeriodicTask('Sweep', pass, logger);
    task.start(1000);

    await jest.advanceTimersByTimeAsync(3500);
    expect(pass).toHaveBeenCalledTimes(1);

    finish();
    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(2);
    finish();
    await task.stop();
  });

  it('logs a failed pass and tries again at the next tick', async () => {
    const { pass, finish } = controlledPass();
    const task = new PeriodicTask('Retention sweep', pass, logger);
    task.start(1000, { immediately: true });
    expect(pass).toHaveBeenCalledTimes(1);

    finish(new Error('database down'));
    await jest.advanceTimersByTimeAsync(0);
    expect(warn).toHaveBeenCalledWith('Retention sweep failed, will try again: database down');

    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(2);
    finish();
    await task.stop();
  });

  it('stop waits for the pass in progress and starts no other', async () => {
    const { pass, finish } = controlledPass();
    const task = new PeriodicTask('Sweep', pass, logger);
    task.start(1000, { immediately: true });

    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(5000);
    expect(stopped).toBe(false);

    finish();
    await stopping;
    expect(pass).toHaveBeenCalledTimes(1);
  });
});
