import { createRequest } from '@pixbatch/sdk';
import { useRef, useState, type DragEvent, type FormEvent } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { ProblemView } from '../components/problem-view';
import { formatBytes } from '../format';
import { navigate } from '../router';

/**
 * Pick or drop a CSV, set the options, upload; a rejected CSV shows the server's
 * per-row problems, an accepted one opens its live view.
 */
export function UploadView() {
  const [file, setFile] = useState<File | null>(null);
  const [dragging, setDragging] = useState(false);
  const [webhookUrl, setWebhookUrl] = useState('');
  const [resize, setResize] = useState('');
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const choose = (chosen: File | undefined) => {
    setFile(chosen ?? null);
    setProblem(null);
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const dropped = event.dataTransfer.files[0];
    if (!dropped) return;
    // Keeps the file input and the form in step, so the picker shows what was dropped.
    if (input.current) input.current.files = event.dataTransfer.files;
    choose(dropped);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setSending(true);
    setProblem(null);
    try {
      const created = await call(
        createRequest({
          body: {
            file,
            ...(webhookUrl.trim() ? { webhookUrl: webhookUrl.trim() } : {}),
            ...(resize.trim() ? { resize: Number(resize) } : {}),
          },
        }),
      );
      navigate(`/requests/${created.requestId}`);
    } catch (error) {
      const failure = toProblem(error);
      // A 401 opens the API key prompt; the same message twice would only add noise.
      if (failure.status !== 401) setProblem(failure);
    } finally {
      setSending(false);
    }
  };

  return (
    <section aria-labelledby="upload-heading">
      <h1 id="upload-heading">Compress a catalogue</h1>
      <p>
        Upload a CSV with the columns <code>S. No.</code>, <code>Product Name</code> and <code>Input Image Urls</code>. Every image is
        fetched, compressed and stored; you get the CSV back with the new URLs beside the old ones.
      </p>
      <form onSubmit={submit} className="card upload-form" noValidate>
        <div
          className={`dropzone${dragging ? ' dragging' : ''}`}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <label htmlFor="csv-file">CSV file</label>
          <input
            ref={input}
            id="csv-file"
            name="file"
            type="file"
            accept=".csv,.tsv,.txt,text/csv,text/plain"
            aria-describedby="csv-file-hint"
            onChange={(event) => choose(event.target.files?.[0])}
          />
          <p id="csv-file-hint" className="hint">
            {file ? `${file.name}, ${formatBytes(file.size)}` : 'Choose a file, or drop one here.'}
          </p>
        </div>
        <fieldset>
          <legend>Options</legend>
          <div className="field">
            <label htmlFor="webhook-url">Webhook URL (optional)</label>
            <input
              id="webhook-url"
              type="url"
              inputMode="url"
              placeholder="https://example.com/hooks/pixbatch"
              value={webhookUrl}
              onChange={(event) => setWebhookUrl(event.target.value)}
              aria-describedby="webhook-url-hint"
            />
            <p id="webhook-url-hint" className="hint">
              Receives a signed event when the batch is done.
            </p>
          </div>
          <div className="field">
            <label htmlFor="resize">Resize factor (optional)</label>
            <input
              id="resize"
              type="number"
              inputMode="decimal"
              min="0.01"
              max="1"
              step="0.01"
              placeholder="e.g. 0.5"
              value={resize}
              onChange={(event) => setResize(event.target.value)}
              aria-describedby="resize-hint"
            />
            <p id="resize-hint" className="hint">
              Scales each image; leave empty to keep its size.
            </p>
          </div>
        </fieldset>
        <button type="submit" disabled={!file || sending}>
          {sending ? 'Uploading…' : 'Upload'}
        </button>
        <p className="hint">The CSV is checked when you upload; a rejected file stores nothing and its problems are listed row by row.</p>
      </form>
      {problem ? <ProblemView problem={problem} /> : null}
    </section>
  );
}
