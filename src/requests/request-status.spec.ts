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
  it.each([
    [RequestStatus.Pending, false],
    [RequestStatus.Processing, false],
    [RequestStatus.Completed, true],
    [RequestStatus.CompletedWithErrors, true],
    [RequestStatus.Failed, true],
  ])('%s -> %s', (status, expected) => {
    expect(isTerminal(status)).toBe(expected);
  });
});
