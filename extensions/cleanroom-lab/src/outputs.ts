/**
 * A single cell output becomes a file for a release request: PNG for images, CSV for a
 * table (a DataFrame's HTML), HTML otherwise. Pure: works on the output's MIME bundle.
 */

export interface IOutputFile {
  name: string;
  kind: 'png' | 'csv' | 'html';
  mediaType: string;
  /** The file's bytes, base64-encoded, exactly as they will be sent. */
  data: string;
  size: number;
  /** A short view of the content for the dialog (text), or a data URL (images). */
  preview: string;
}

type Bundle = Record<string, unknown>;

function text(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  if (Array.isArray(value) && value.every(part => typeof part === 'string')) {
    return value.join('');
  }
  return null;
}

/** UTF-8 text to base64 (btoa only takes Latin-1). */
export function utf8Base64(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let binary = '';
  bytes.forEach(byte => {
    binary += String.fromCharCode(byte);
  });
  return btoa(binary);
}

export function base64Size(data: string): number {
  const clean = data.replace(/\s/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return (clean.length * 3) / 4 - padding;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The first table of an HTML fragment as CSV, or null when it holds no table. */
export function htmlTableToCsv(html: string): string | null {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const table = doc.querySelector('table');
  if (!table) {
    return null;
  }
  const rows = Array.from(table.querySelectorAll('tr'));
  if (rows.length === 0) {
    return null;
  }
  return (
    rows
      .map(row =>
        Array.from(row.querySelectorAll('th, td'))
          .map(cell => csvField((cell.textContent ?? '').trim()))
          .join(',')
      )
      .join('\n') + '\n'
  );
}

/** The files an output can be released as, best first (none: nothing releasable). */
export function outputFiles(bundle: Bundle, baseName: string): IOutputFile[] {
  const files: IOutputFile[] = [];
  const png = text(bundle['image/png']);
  if (png) {
    const data = png.replace(/\s/g, '');
    files.push({
      name: `${baseName}.png`,
      kind: 'png',
      mediaType: 'image/png',
      data,
      size: base64Size(data),
      preview: `data:image/png;base64,${data}`
    });
  }
  const html = text(bundle['text/html']);
  if (html) {
    const csv = htmlTableToCsv(html);
    if (csv !== null) {
      const data = utf8Base64(csv);
      files.push({
        name: `${baseName}.csv`,
        kind: 'csv',
        mediaType: 'text/csv',
        data,
        size: base64Size(data),
        preview: csv.slice(0, 2000)
      });
    }
    const data = utf8Base64(html);
    files.push({
      name: `${baseName}.html`,
      kind: 'html',
      mediaType: 'text/html',
      data,
      size: base64Size(data),
      preview: html.slice(0, 2000)
    });
  }
  return files;
}

/** A plain file name for a cell's output: "<notebook>-cell<N>-output<M>". */
export function outputBaseName(
  notebookPath: string,
  cellIndex: number,
  outputIndex: number
): string {
  const stem = (notebookPath.split('/').pop() ?? 'notebook')
    .replace(/\.ipynb$/i, '')
    .replace(/[^A-Za-z0-9._ -]/g, '_')
    .replace(/^[._ -]+/, '')
    .slice(0, 80);
  return `${stem || 'notebook'}-cell${cellIndex + 1}-output${outputIndex + 1}`;
}
