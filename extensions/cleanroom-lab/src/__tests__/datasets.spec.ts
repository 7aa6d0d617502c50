import { DatasetsPanel, IDataset, grantLines, queryFor } from '../datasets';
import { requestAPI } from '../request';

jest.mock('../request', () => {
  const actual = jest.requireActual('../request');
  return { ...actual, requestAPI: jest.fn() };
});

const answer = requestAPI as jest.MockedFunction<typeof requestAPI>;

function view(extra: Partial<IDataset> = {}): IDataset {
  return {
    view: 'wafers',
    dataset: 'wafers',
    version: 'v1',
    grant: 7,
    columns: [
      { name: 'lot', type: 'BIGINT' },
      { name: 'yield_pct', type: 'DOUBLE' }
    ],
    rows: 12345,
    columns_restricted: true,
    row_filter: '"year" >= 2023',
    expires_at: '2026-09-01T00:00:00Z',
    granted_at: '2026-03-01T12:00:00Z',
    ...extra
  };
}

describe('the Datasets panel', () => {
  beforeEach(() => answer.mockReset());

  it('lists each view with its columns, rows, restrictions and expiry', async () => {
    const inserted: string[] = [];
    const panel = new DatasetsPanel(code => inserted.push(code));
    answer.mockResolvedValueOnce({
      datasets: [
        view(),
        view({
          view: 'welds',
          dataset: 'welds',
          columns_restricted: false,
          row_filter: null,
          expires_at: null
        })
      ],
      message: ''
    });
    await panel.refresh();
    expect(answer).toHaveBeenCalledWith('datasets');
    const items = panel.node.querySelectorAll('.jp-cleanroom-dataset');
    expect(items).toHaveLength(2);
    const first = items[0] as HTMLElement;
    expect(first.dataset.view).toBe('wafers');
    const text = first.textContent ?? '';
    expect(text).toContain('12,345 rows · 2 columns');
    expect(text).toContain('Columns: only the 2 granted to this project');
    expect(text).toContain('Rows: only where "year" >= 2023');
    expect(text).toContain('Grant expires 2026-09-01 00:00 UTC');
    const columns = Array.from(
      first.querySelectorAll('tr'),
      row => (row as HTMLElement).dataset.column
    );
    expect(columns).toEqual(['lot', 'yield_pct']);
    const second = items[1].textContent ?? '';
    expect(second).toContain('Columns: all of the dataset');
    expect(second).toContain('Rows: all of the dataset');
    expect(second).toContain('Grant does not expire');
    (first.querySelector('.jp-cleanroom-insert') as HTMLButtonElement).click();
    expect(inserted).toEqual([queryFor(view())]);
    panel.dispose();
  });

  it('says why when there are no datasets or the list cannot be read', async () => {
    const panel = new DatasetsPanel(() => undefined);
    answer.mockResolvedValueOnce({
      datasets: [],
      message: 'No datasets are mounted.'
    });
    await panel.refresh();
    expect(panel.node.querySelector('.jp-cleanroom-status')?.textContent).toBe(
      'No datasets are mounted.'
    );
    answer.mockRejectedValueOnce(new Error('gone'));
    await panel.refresh();
    expect(
      panel.node.querySelector('.jp-cleanroom-status')?.textContent
    ).toContain('could not be listed');
    panel.dispose();
  });
});

describe('the inserted query', () => {
  it('quotes the view name for SQL and the SQL for Python', () => {
    expect(queryFor(view())).toBe(
      [
        'import cleanroom',
        '',
        'con = cleanroom.connect()',
        'df = con.sql(\'SELECT * FROM "wafers" LIMIT 1000\').df()',
        'df.head()'
      ].join('\n')
    );
    const odd = queryFor(view({ view: `it's "x"\\` }));
    expect(odd).toContain(`'SELECT * FROM "it\\'s ""x""\\\\" LIMIT 1000'`);
  });

  it('describes a grant without restrictions plainly', () => {
    expect(grantLines(view({ columns_restricted: false }))[0]).toBe(
      'Columns: all of the dataset'
    );
  });
});
