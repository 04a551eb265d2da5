import { createRequest, validateRequest, type CreateRequestData, type CsvCheckDto } from '@pixbatch/sdk';
import { useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { ProblemView } from '../components/problem-view';
import { formatBytes } from '../format';
import { navigate } from '../router';

const DELIMITERS: Record<CsvCheckDto['delimiter'], string> = {
  ',': 'comma',
  ';': 'semicolon',
  '\t': 'tab',
  '|': 'vertical bar',
};

/** The upload route's fields as openapi.json describes them, read at build time: limits, default, formats. */
// One reference: vite pastes the value wherever the name appears.
const UPLOAD_FIELDS = __UPLOAD_FIELDS__;
const FORMATS = UPLOAD_FIELDS.format?.enum ?? ['keep'];
const DEFAULT_QUALITY = UPLOAD_FIELDS.quality?.default;
/** Ticked as the API's default says: copying is on unless turned off. */
const REUSE_DEFAULT = UPLOAD_FIELDS.reuse?.default !== false;

/** The two bounds an image is fitted inside; either or both, never with resize. */
const BOUNDS = ['maxWidth', 'maxHeight'] as const;
type Bound = (typeof BOUNDS)[number];
const BOUND_LABELS: Record<Bound, { id: string; label: string }> = {
  maxWidth: { id: 'max-width', label: 'Max width in pixels (optional)' },
  maxHeight: { id: 'max-height', label: 'Max height in pixels (optional)' },
};

/** `rejected`: the server refused the file itself, so uploading it again would only be refused again. */
type Outcome = { state: 'ok'; result: CsvCheckDto } | { state: 'failed'; rejected: boolean };
type Check = { state: 'idle' } | { state: 'checking' } | Outcome;

/**
 * Pick or drop a CSV; the server's own parser reads it at once (the validate
 * route, which stores nothing) and the page shows what it recognised, or the
 * per-row problems. Then set the options and upload; an accepted CSV opens its live view.
 */
export function UploadView({ authGeneration }: { authGeneration: number }) {
  const [file, setFile] = useState<File | null>(null);
  const [dragging, setDragging] = useState(false);
  const [webhookUrl, setWebhookUrl] = useState('');
  const [resize, setResize] = useState('');
  const [bounds, setBounds] = useState<Record<Bound, string>>({ maxWidth: '', maxHeight: '' });
  const [quality, setQuality] = useState('');
  const [format, setFormat] = useState('keep');
  const [reuse, setReuse] = useState(REUSE_DEFAULT);
  const [sending, setSending] = useState(false);
  // The latest check's outcome with what it checked: a file or key newer than that is still being checked.
  const [checked, setChecked] = useState<{ file: File; authGeneration: number; outcome: Outcome } | null>(null);
  // Apart: the file's problems belong where its preview would be, the upload's under its button.
  const [checkProblem, setCheckProblem] = useState<ApiProblem | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const choose = (chosen: File | undefined) => {
    setFile(chosen ?? null);
    setCheckProblem(null);
    setProblem(null);
  };

  const check: Check = !file
    ? { state: 'idle' }
    : checked?.file === file && checked.authGeneration === authGeneration
      ? checked.outcome
      : { state: 'checking' };

  // Runs again when a key is entered, so a preview refused with 401 appears once the key is there.
  useEffect(() => {
    if (!file) return;
    const abort = new AbortController();
    const settle = (outcome: Outcome) => setChecked({ file, authGeneration, outcome });
    call(validateRequest({ body: { file }, signal: abort.signal }))
      .then((result) => settle({ state: 'ok', result }))
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        const failure = toProblem(error);
        // A 401 opens the key prompt and the check runs again with the key; any other refusal is the file's.
        const rejected = failure.status !== 401;
        settle({ state: 'failed', rejected });
        if (rejected) setCheckProblem(failure);
      });
    return () => abort.abort();
  }, [file, authGeneration]);

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
    const options: Record<string, string | number | boolean> = {};
    if (webhookUrl.trim()) options.webhookUrl = webhookUrl.trim();
    if (resize.trim()) options.resize = Number(resize);
    for (const bound of BOUNDS) if (bounds[bound].trim()) options[bound] = Number(bounds[bound]);
    if (quality.trim()) options.quality = Number(quality);
    if (format !== 'keep') options.format = format;
    // Sent only when off: the default needs no field, and an upload without it matches a retry of it (idempotency).
    if (!reuse) options.reuse = false;
    try {
      const body = { file, ...options } as CreateRequestData['body'];
      const created = await call(createRequest({ body }));
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
        Upload a CSV with the columns <code>S. No.</code>, <code>Product Name</code> and <code>Input Image Urls</code>.
        Every image is fetched, compressed and stored; you get the CSV back with the new URLs beside the old ones.
      </p>
      <form onSubmit={(event) => void submit(event)} className="card upload-form" noValidate>
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
        {check.state === 'checking' ? <p aria-live="polite">Reading the CSV…</p> : null}
        {check.state === 'ok' ? <CsvPreview result={check.result} /> : null}
        {checkProblem ? <ProblemView problem={checkProblem} takeFocus /> : null}
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
          {BOUNDS.map((bound) => (
            <NumberField
              key={bound}
              id={BOUND_LABELS[bound].id}
              label={BOUND_LABELS[bound].label}
              value={bounds[bound]}
              onChange={(value) => setBounds((current) => ({ ...current, [bound]: value }))}
              max={UPLOAD_FIELDS[bound]?.maximum}
            />
          ))}
          <NumberField
            id="quality"
            label="Quality, 1 to 100 (optional)"
            value={quality}
            onChange={setQuality}
            max={UPLOAD_FIELDS.quality?.maximum ?? 100}
            placeholder={typeof DEFAULT_QUALITY === 'number' ? `${DEFAULT_QUALITY} if left empty` : undefined}
          />
          <div className="field">
            <label htmlFor="format">Output format</label>
            <select id="format" value={format} onChange={(event) => setFormat(event.target.value)}>
              {FORMATS.map((name) => (
                <option key={name} value={name}>
                  {name === 'keep' ? 'Keep each image’s format' : name.toUpperCase()}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label className="checkbox">
              <input
                type="checkbox"
                checked={reuse}
                onChange={(event) => setReuse(event.target.checked)}
                aria-describedby="reuse-hint"
              />
              Reuse unchanged images from earlier uploads
            </label>
            <p id="reuse-hint" className="hint">
              An image uploaded before with the same options is copied, not compressed again, when its host confirms it
              is unchanged or sends the same bytes; untick to fetch and compress every image anew.
            </p>
          </div>
        </fieldset>
        <button
          type="submit"
          disabled={!file || sending || (check.state === 'failed' && check.rejected)}
          aria-describedby="upload-hint"
        >
          {sending ? 'Uploading…' : 'Upload'}
        </button>
        <p id="upload-hint" className="hint">
          {check.state === 'failed' && check.rejected
            ? 'This file was refused; fix it and choose it again to upload.'
            : 'A rejected file stores nothing; its problems are listed row by row.'}
        </p>
        {problem ? <ProblemView problem={problem} takeFocus /> : null}
      </form>
    </section>
  );
}

interface NumberFieldProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  max?: number;
  placeholder?: string;
}

function NumberField(props: NumberFieldProps) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="number"
        inputMode="numeric"
        min="1"
        max={props.max}
        step="1"
        placeholder={props.placeholder}
        value={props.value}
        onChange={(event) => props.onChange(event.target.value)}
      />
    </div>
  );
}

/** What the server's parser recognised: separator, columns, counts and the first rows as they will be processed. */
function CsvPreview({ result }: { result: CsvCheckDto }) {
  return (
    <section className="preview" aria-labelledby="preview-heading">
      <h2 id="preview-heading">What the service read</h2>
      <dl className="stats">
        <div>
          <dt>Products</dt>
          <dd>{result.productCount}</dd>
        </div>
        <div>
          <dt>Image URLs</dt>
          <dd>{result.urlCount}</dd>
        </div>
        <div>
          <dt>Separator</dt>
          <dd>{DELIMITERS[result.delimiter]}</dd>
        </div>
        <div>
          <dt>Encoding</dt>
          <dd>{result.encoding.toUpperCase()}</dd>
        </div>
      </dl>
      <div className="table-scroll">
        <table className="preview-rows">
          <caption>
            {result.firstRows.length < result.productCount
              ? `The first ${result.firstRows.length} of ${result.productCount} rows`
              : `All ${result.productCount} rows`}
          </caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              {result.columns.map((column, index) => (
                <th scope="col" key={index}>
                  {column}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.firstRows.map((row) => (
              <tr key={row.row}>
                <td>{row.line}</td>
                {row.cells.map((cell, index) => (
                  <td key={index} className="wrap">
                    {cell}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
