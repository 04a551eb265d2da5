import { useEffect, useRef } from 'react';
import type { ApiProblem, Problem } from '../api/problem';

const BUDGETS: Record<NonNullable<Problem['rateLimit']>, string> = {
  requests: 'requests',
  uploads: 'CSV uploads and checks',
  writes: 'changes (cancel, retry, delete, redeliver)',
};

/**
 * The problems that are about reaching the server rather than about the
 * request, said for a person who does not run the server: what happened and
 * what to do. The detail underneath is written for whoever does run it.
 */
function explanation(problem: Problem): string | null {
  if (problem.code === 'PROTECTED_MODE') {
    return (
      'This server has no API keys set up, so for safety it only answers programs running on the same ' +
      'machine, and you are reaching it from elsewhere (or through a proxy). Ask whoever runs it to give out ' +
      'API keys; this page will then ask for yours.'
    );
  }
  if (problem.code === 'RATE_LIMITED') {
    const what = BUDGETS[problem.rateLimit ?? 'requests'];
    const wait = problem.retryAfterSeconds ? `in ${problem.retryAfterSeconds} s` : 'in a minute';
    return (
      `More ${what} were sent in the last minute than this server allows (from your API key, or from your ` +
      `network address without one). This attempt changed nothing; try again ${wait}.`
    );
  }
  return null;
}

/**
 * A problem document for a person: its title and detail, and when the server
 * listed issues (a rejected CSV), a table of row, line, column and message.
 */
export function ProblemView({ problem, takeFocus = false }: { problem: ApiProblem; takeFocus?: boolean }) {
  const { title, detail, errors, errorCount } = problem.problem;
  const meaning = explanation(problem.problem);
  const box = useRef<HTMLDivElement>(null);
  // The answer to something the person just did (upload, cancel, retry) is brought into view and
  // focused, so it is neither below the fold nor missed by a screen reader reading on from the button.
  useEffect(() => {
    if (!takeFocus) return;
    box.current?.scrollIntoView({ block: 'start' });
    box.current?.focus({ preventScroll: true });
  }, [problem, takeFocus]);
  return (
    <div ref={box} className="problem" role="alert" tabIndex={takeFocus ? -1 : undefined}>
      {meaning ? <p className="problem-meaning">{meaning}</p> : null}
      <p className="problem-title">
        <strong>{title}</strong>
        {detail && detail !== title ? <>: {detail}</> : null}
      </p>
      {errors && errors.length > 0 ? (
        <div className="table-scroll">
          <table className="problem-issues">
            <caption>
              {errorCount && errorCount > errors.length
                ? `The first ${errors.length} of ${errorCount} problems`
                : `${errors.length} ${errors.length === 1 ? 'problem' : 'problems'}`}
            </caption>
            <thead>
              <tr>
                <th scope="col">Row</th>
                <th scope="col">Line</th>
                <th scope="col">Column</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {errors.map((issue, index) => (
                <tr key={index}>
                  <td>{issue.row ?? '–'}</td>
                  <td>{issue.line ?? '–'}</td>
                  <td>{issue.column ?? issue.field ?? '–'}</td>
                  <td>{issue.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
