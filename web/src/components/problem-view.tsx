import type { ApiProblem } from '../api/problem';

/**
 * A problem document for a person: its title and detail, and when the server
 * listed issues (a rejected CSV), a table of row, line, column and message.
 */
export function ProblemView({ problem }: { problem: ApiProblem }) {
  const { title, detail, errors, errorCount } = problem.problem;
  return (
    <div className="problem" role="alert">
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
