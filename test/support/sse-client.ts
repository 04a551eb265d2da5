/** One Server-Sent Event as received, with when it arrived. */
export interface ReceivedEvent {
  id?: string;
  event: string;
  data: string;
  at: number;
}

export interface SseRead {
  status: number;
  contentType: string | null;
  events: ReceivedEvent[];
  comments: string[];
  /** The server ended the stream (as opposed to the reader giving up). */
  ended: boolean;
}

/**
 * Reads an event stream the way EventSource parses it (fields per line, a
 * blank line ends an event), until the server ends it or `timeoutMs` passes.
 */
export async function readEvents(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<SseRead> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const response = await fetch(url, { headers, signal: abort.signal });
  const read: SseRead = {
    status: response.status,
    contentType: response.headers.get('content-type'),
    events: [],
    comments: [],
    ended: false,
  };
  if (!response.body || !read.contentType?.startsWith('text/event-stream')) {
    clearTimeout(timer);
    await response.body?.cancel();
    return read;
  }
  const decoder = new TextDecoder();
  let buffer = '';
  let current: Partial<ReceivedEvent> = {};
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          if (current.data !== undefined)
            read.events.push({ event: 'message', ...current, at: Date.now() } as ReceivedEvent);
          current = {};
        } else if (line.startsWith(':')) read.comments.push(line.slice(1).trim());
        else {
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'id' || field === 'event') current[field] = value;
        }
      }
    }
    read.ended = true;
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
  }
  return read;
}
