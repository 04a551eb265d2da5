import { RequestStatus, isTerminal, terminalStatusFor } from './request-status.js';

describe('terminalStatusFor', () => {
  it('is completed when every image succeeded', () => {
    expect(terminalStatusFor(3, 0)).toBe(RequestStatus.Completed);
  });

  it('is completed_with_errors when some images failed', () => {
    expect(terminalStatusFor(2, 1)).toBe(RequestStatus.CompletedWithErrors);
  });

  it('is failed when no image succeeded', () => {
    expect(terminalStatusFor(0, 3)).toBe(RequestStatus.Failed);
  });
});

describe('isTerminal', () => {
  it('knows every status', () => {
    // A status added to the enum without a row below fails here rather than going untested.
    expect(Object.values(RequestStatus).sort()).toEqual(
      [
        RequestStatus.Pending,
        RequestStatus.Processing,
        RequestStatus.Completed,
        RequestStatus.CompletedWithErrors,
        RequestStatus.Failed,
        RequestStatus.Cancelled,
      ].sort(),
    );
  });

  it.each([
    [RequestStatus.Pending, false],
    [RequestStatus.Processing, false],
    [RequestStatus.Completed, true],
    [RequestStatus.CompletedWithErrors, true],
    [RequestStatus.Failed, true],
    [RequestStatus.Cancelled, true],
  ])('%s -> %s', (status, expected) => {
    expect(isTerminal(status)).toBe(expected);
  });
});
