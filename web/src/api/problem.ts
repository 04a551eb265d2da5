import type { ProblemDocumentDto, ProblemIssueDto } from '@pixbatch/sdk';

export type Problem = ProblemDocumentDto;
export type ProblemIssue = ProblemIssueDto;

/** What a failed call turns into: the server's problem document, or one made up for a network failure. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ApiProblem';
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string {
    return this.problem.code;
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && 'status' in value && 'code' in value && 'title' in value;
}

/** Any error value from the SDK or fetch, as a problem to show. */
export function toProblem(error: unknown, status = 0): ApiProblem {
  if (error instanceof ApiProblem) return error;
  if (isProblem(error)) return new ApiProblem(error);
  const detail = error instanceof Error ? error.message : 'The server could not be reached.';
  return new ApiProblem({ type: 'about:blank', title: 'Request failed', status, code: 'NETWORK_ERROR', detail });
}
