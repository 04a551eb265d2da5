import {
  listWebhookDeliveries,
  redeliverWebhook,
  type RequestWebhookDto,
  type WebhookDeliveryDto,
} from '@pixbatch/sdk';
import { useCallback, useEffect, useState } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { ProblemView } from '../components/problem-view';

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '–');

/** Every webhook delivery of the request with its attempts, and a redeliver button for each. */
export function WebhookLog({
  requestId,
  webhook,
  onRedelivered,
}: {
  requestId: string;
  webhook: RequestWebhookDto;
  onRedelivered: () => void;
}) {
  const [deliveries, setDeliveries] = useState<WebhookDeliveryDto[] | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [sending, setSending] = useState<string | null>(null);

  // Resolves once the log or the problem is shown.
  const load = useCallback(
    () =>
      call(listWebhookDeliveries({ path: { id: requestId } })).then(
        (list) => setDeliveries(list.items),
        (error: unknown) => setProblem(toProblem(error)),
      ),
    [requestId],
  );

  // The request's webhook summary changes as deliveries happen; the log follows it.
  useEffect(() => {
    void load();
  }, [load, webhook.state, webhook.attempts]);

  const redeliver = async (delivery: WebhookDeliveryDto) => {
    setSending(delivery.id);
    setProblem(null);
    try {
      await call(redeliverWebhook({ path: { id: requestId, deliveryId: delivery.id } }));
      await load();
      onRedelivered();
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setSending(null);
    }
  };

  return (
    <section className="card" aria-labelledby="webhook-heading">
      <h2 id="webhook-heading">Webhook</h2>
      <p>
        <code className="wrap">{webhook.url}</code> · {webhook.state.replaceAll('_', ' ')}
      </p>
      {problem ? <ProblemView problem={problem} /> : null}
      {deliveries && deliveries.length === 0 ? (
        <p className="muted">Nothing delivered yet: the event is sent when the request finishes.</p>
      ) : null}
      {deliveries?.map((delivery) => (
        <article key={delivery.id} className="delivery">
          <h3>
            {delivery.eventType} · {delivery.status} · {delivery.attemptCount} of {delivery.attemptsAllowed} attempts
          </h3>
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Attempts of {delivery.eventType}</caption>
              <thead>
                <tr>
                  <th scope="col">Attempt</th>
                  <th scope="col">Started</th>
                  <th scope="col">Result</th>
                  <th scope="col">Duration</th>
                </tr>
              </thead>
              <tbody>
                {delivery.attempts.map((attempt) => (
                  <tr key={attempt.number}>
                    <td>
                      {attempt.number}
                      {attempt.manual ? ' (manual)' : ''}
                    </td>
                    <td>{when(attempt.startedAt)}</td>
                    <td>
                      {attempt.statusCode ? `HTTP ${attempt.statusCode}` : (attempt.errorCode ?? 'in flight')}
                      {attempt.error ? `: ${attempt.error}` : ''}
                    </td>
                    <td>{attempt.durationMs === null ? '–' : `${attempt.durationMs} ms`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <button
            type="button"
            className="secondary"
            onClick={() => void redeliver(delivery)}
            disabled={sending !== null}
          >
            Redeliver<span className="visually-hidden"> {delivery.eventType}</span>
          </button>
        </article>
      ))}
    </section>
  );
}
