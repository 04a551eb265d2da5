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

/** How often the log is read again while a delivery has attempts to come. */
const REFRESH_MS = 2000;

// A delivery with attempts still scheduled or in flight: the server refuses to redeliver it (409).
const unfinished = (delivery: WebhookDeliveryDto) => delivery.status === 'pending' || delivery.status === 'sending';

/**
 * Every webhook delivery of the request with its attempts, and a redeliver button for each
 * finished one. The log reads itself again while a delivery is unfinished (or, once the request
 * is done, before its first delivery appears): the request's status stops changing when it
 * completes, so it cannot be what tells the log that a retry got through.
 */
export function WebhookLog({
  requestId,
  webhook,
  round,
  completed,
}: {
  requestId: string;
  webhook: RequestWebhookDto;
  round: number;
  completed: boolean;
}) {
  const [deliveries, setDeliveries] = useState<WebhookDeliveryDto[] | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [sending, setSending] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);

  // Resolves once the log or the problem is shown.
  const load = useCallback(
    () =>
      call(listWebhookDeliveries({ path: { id: requestId } })).then(
        (list) => {
          setDeliveries(list.items);
          setProblem(null);
        },
        (error: unknown) => setProblem(toProblem(error)),
      ),
    [requestId],
  );

  useEffect(() => {
    void load();
  }, [load, round, completed, refresh]);

  const subscribed = webhook.state !== 'not_subscribed';
  const waiting =
    completed && deliveries !== null && (deliveries.some(unfinished) || (subscribed && deliveries.length <= round));
  useEffect(() => {
    if (!waiting) return;
    const timer = setTimeout(() => setRefresh((n) => n + 1), REFRESH_MS);
    return () => clearTimeout(timer);
  }, [waiting, deliveries]);

  const redeliver = async (delivery: WebhookDeliveryDto) => {
    setSending(delivery.id);
    setProblem(null);
    try {
      await call(redeliverWebhook({ path: { id: requestId, deliveryId: delivery.id } }));
      await load();
    } catch (error) {
      setProblem(toProblem(error));
    } finally {
      setSending(null);
    }
  };

  const latest = deliveries?.at(-1);
  const state = !completed
    ? 'sent when the request finishes'
    : latest
      ? latest.status
      : webhook.state.replaceAll('_', ' ');
  return (
    <section className="card" aria-labelledby="webhook-heading">
      <h2 id="webhook-heading">Webhook</h2>
      <p>
        <code className="wrap">{webhook.url}</code> · {state}
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
            disabled={sending !== null || unfinished(delivery)}
            aria-describedby={unfinished(delivery) ? `next-${delivery.id}` : undefined}
          >
            Redeliver<span className="visually-hidden"> {delivery.eventType}</span>
          </button>
          {unfinished(delivery) ? (
            <p id={`next-${delivery.id}`} className="hint">
              {delivery.status === 'sending'
                ? 'An attempt is being sent now.'
                : `The next attempt is scheduled for ${when(delivery.nextAttemptAt)}.`}{' '}
              Redeliver is offered once the delivery has finished.
            </p>
          ) : null}
        </article>
      ))}
    </section>
  );
}
