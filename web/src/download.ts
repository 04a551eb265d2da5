/** Saves a Blob fetched with the API key header as a file, since a plain link could not carry the header. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = filename;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  // The click has handed the Blob to the download manager; revoking later frees it.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
