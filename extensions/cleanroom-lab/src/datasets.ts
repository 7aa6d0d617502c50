import { Widget } from '@lumino/widgets';

import { add, panelTop } from './dom';
import { ReleaseError, requestAPI } from './request';

/** A granted view as the hub described it when it started this server (no data). */
export interface IDataset {
  view: string;
  dataset: string;
  version: string;
  grant: number;
  columns: { name: string; type: string }[];
  rows: number;
  columns_restricted: boolean;
  row_filter: string | null;
  expires_at: string | null;
  granted_at: string | null;
}

export interface IDatasetsAnswer {
  datasets: IDataset[];
  message: string;
}

/** A Python string literal that holds ``text`` exactly. */
function pythonString(text: string): string {
  return "'" + text.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** The query a click inserts: the view's first rows as a pandas DataFrame. */
export function queryFor(view: IDataset): string {
  const name = '"' + view.view.replace(/"/g, '""') + '"';
  return [
    'import cleanroom',
    '',
    'con = cleanroom.connect()',
    `df = con.sql(${pythonString(`SELECT * FROM ${name} LIMIT 1000`)}).df()`,
    'df.head()'
  ].join('\n');
}

/** "2026-09-01 00:00 UTC" from an ISO time, or the text as it came. */
export function shownTime(iso: string): string {
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}

/** What the grant restricts and until when, one line each. */
export function grantLines(view: IDataset): string[] {
  return [
    view.columns_restricted
      ? `Columns: only the ${view.columns.length} granted to this project`
      : 'Columns: all of the dataset',
    view.row_filter
      ? `Rows: only where ${view.row_filter}`
      : 'Rows: all of the dataset',
    view.expires_at
      ? `Grant expires ${shownTime(view.expires_at)}`
      : 'Grant does not expire'
  ];
}

/**
 * The left-side Datasets panel: the project's granted views with their columns and types,
 * row counts, what the grant restricts and its expiry. "Insert query" puts a DuckDB query
 * of the view into the current notebook. The facts come from the server extension, which
 * reads what the hub wrote; nothing here reads data.
 */
export class DatasetsPanel extends Widget {
  private readonly list: HTMLElement;
  private readonly status: HTMLElement;

  constructor(private readonly insert: (code: string) => void) {
    super();
    this.id = 'cleanroom-datasets';
    this.addClass('jp-cleanroom-DatasetsPanel');
    this.title.caption = 'Datasets granted to this project';
    this.title.label = 'Datasets';
    this.status = panelTop(
      this.node,
      'Datasets',
      "Your project's datasets, read-only. Only what was granted is here: other columns " +
        'and rows are not in this server at all. "Insert query" adds a cell that reads ' +
        'a view with DuckDB into pandas.',
      () => void this.refresh()
    );
    this.list = add(this.node, 'ul', 'jp-cleanroom-datasets');
  }

  async refresh(): Promise<void> {
    let answer: IDatasetsAnswer;
    try {
      answer = await requestAPI<IDatasetsAnswer>('datasets');
    } catch (error) {
      const message =
        error instanceof ReleaseError ? error.message : String(error);
      this.status.textContent = `The datasets could not be listed: ${message}`;
      return;
    }
    this.render(answer);
  }

  render(answer: IDatasetsAnswer): void {
    this.list.replaceChildren();
    this.status.textContent = answer.message;
    for (const view of answer.datasets) {
      const item = add(this.list, 'li', 'jp-cleanroom-dataset');
      item.dataset.view = view.view;
      const head = add(item, 'div', 'jp-cleanroom-header');
      const name = add(head, 'strong', 'jp-cleanroom-viewName', view.view);
      name.title = `${view.dataset} ${view.version}, grant ${view.grant}`;
      const button = add(
        head,
        'button',
        'jp-mod-styled jp-cleanroom-insert',
        'Insert query'
      );
      button.title = `Add a cell that queries ${view.view} to the current notebook`;
      button.onclick = () => this.insert(queryFor(view));
      add(
        item,
        'div',
        'jp-cleanroom-size',
        `${view.dataset} ${view.version} · ${view.rows.toLocaleString('en')} rows · ` +
          `${view.columns.length} columns`
      );
      for (const line of grantLines(view)) {
        add(item, 'div', 'jp-cleanroom-grant', line);
      }
      const details = add(item, 'details', 'jp-cleanroom-columns');
      add(details, 'summary', '', 'Columns and types');
      const table = add(details, 'table', '');
      for (const column of view.columns) {
        const row = table.insertRow();
        row.dataset.column = column.name;
        row.insertCell().textContent = column.name;
        row.insertCell().textContent = column.type;
      }
    }
  }
}
