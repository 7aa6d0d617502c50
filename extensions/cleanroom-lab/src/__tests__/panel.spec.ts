import { Notification } from '@jupyterlab/apputils';

import { RequestsPanel, airlockPage } from '../panel';
import { requestAPI } from '../request';

jest.mock('../request', () => {
  const actual = jest.requireActual('../request');
  return { ...actual, requestAPI: jest.fn(), postJSON: jest.fn() };
});

const answer = requestAPI as jest.MockedFunction<typeof requestAPI>;

function request(state: string, extra: Record<string, unknown> = {}) {
  return {
    id: 'r-1',
    title: 'Yield table',
    state,
    justification: 'for the paper',
    files: [
      {
        name: 'yield.csv',
        type: 'table',
        size: 37,
        version: 2,
        votes: [{ reviewer: 'rita', decision: 'changes', comment: 'merge B' }]
      }
    ],
    checks: [
      {
        check: 'min-companies',
        file: 'yield.csv',
        status: 'fail',
        message: 'cell B has 2 companies'
      }
    ],
    ...extra
  };
}

describe('the release requests panel', () => {
  let panel: RequestsPanel;

  beforeEach(() => {
    panel = new RequestsPanel(600);
    answer.mockReset();
  });

  afterEach(() => panel.dispose());

  it('shows each request with its state, files, votes and checks', async () => {
    answer.mockResolvedValueOnce({ requests: [request('returned')] });
    await panel.refresh();
    const card = panel.node.querySelector(
      '.jp-cleanroom-request'
    ) as HTMLElement;
    expect(card.dataset.state).toBe('returned');
    const text = card.textContent ?? '';
    expect(text).toContain('Returned for changes');
    expect(text).toContain('yield.csv (table, 37 bytes, version 2)');
    expect(text).toContain('rita: changes — merge B');
    expect(text).toContain(
      'FAIL min-companies (yield.csv): cell B has 2 companies'
    );
    const buttons = Array.from(card.querySelectorAll('button')).map(
      b => b.textContent
    );
    expect(buttons).toEqual(['Resubmit…', 'Withdraw']);
  });

  it('lists the cells a verified table check flagged, and why', async () => {
    const findings = [
      {
        row: 5,
        column: 'n',
        rule: 'nk-rule',
        status: 'warn',
        message: 'the 2 largest organisations hold over 90% of the total',
        location: 'row 6 (plant=P5), column n'
      },
      {
        row: 2,
        column: 'n',
        rule: 'threshold',
        status: 'fail',
        message: '3 organisations contribute; at least 10 are needed',
        location: 'row 3 (plant=P2), column n'
      }
    ];
    const table = {
      check: 'table',
      file: 'yield.csv',
      status: 'fail',
      message: '2 cells break the disclosure rules',
      findings,
      metrics: { described: 'count of wafer_lots by plant' }
    };
    answer.mockResolvedValueOnce({
      requests: [request('returned', { checks: [table] })]
    });
    await panel.refresh();
    const check = panel.node.querySelector(
      '.jp-cleanroom-check'
    ) as HTMLElement;
    expect(check.textContent).toContain(
      'FAIL table (yield.csv): 2 cells break the disclosure rules'
    );
    expect(check.querySelector('.jp-cleanroom-described')?.textContent).toBe(
      'Table: count of wafer_lots by plant'
    );
    expect(check.textContent).toContain('2 cell(s) flagged by this check');
    const items = Array.from(
      check.querySelectorAll('.jp-cleanroom-finding')
    ).map(li => [li.className, li.textContent]);
    expect(items).toEqual([
      [
        'jp-cleanroom-finding jp-cleanroom-check-fail',
        'FAIL row 3 (plant=P2), column n — minimum organisations: 3 organisations contribute; at least 10 are needed'
      ],
      [
        'jp-cleanroom-finding jp-cleanroom-check-warn',
        'WARN row 6 (plant=P5), column n — (n, k) dominance: the 2 largest organisations hold over 90% of the total'
      ]
    ]);
  });

  it('lists at most 50 findings of a check and counts the rest', async () => {
    const findings = Array.from({ length: 60 }, (_, row) => ({
      row,
      column: 'n',
      rule: 'threshold',
      status: 'fail',
      message: 'too few organisations',
      location: `row ${row + 1}, column n`
    }));
    answer.mockResolvedValueOnce({
      requests: [
        request('returned', {
          checks: [{ check: 'table', status: 'fail', findings }]
        })
      ]
    });
    await panel.refresh();
    const items = panel.node.querySelectorAll('.jp-cleanroom-finding');
    expect(items).toHaveLength(51);
    expect(items[50].textContent).toBe(
      '…and 10 more: open the request in the airlock to see every one.'
    );
  });

  it('lists the findings of any other check as findings', async () => {
    const pdf = {
      check: 'pdf',
      file: 'report.pdf',
      status: 'warn',
      findings: [
        { status: 'warn', rule: '/OpenAction', message: 'opens an action' }
      ]
    };
    answer.mockResolvedValueOnce({
      requests: [request('returned', { checks: [pdf] })]
    });
    await panel.refresh();
    const check = panel.node.querySelector(
      '.jp-cleanroom-check'
    ) as HTMLElement;
    expect(check.textContent).toContain('1 finding(s):');
    expect(check.querySelector('.jp-cleanroom-finding')?.textContent).toBe(
      'WARN /OpenAction: opens an action'
    );
  });

  it('shows no findings list for a check without findings', async () => {
    answer.mockResolvedValueOnce({ requests: [request('returned')] });
    await panel.refresh();
    expect(panel.node.querySelectorAll('.jp-cleanroom-findings')).toHaveLength(
      0
    );
  });

  it('offers nothing to do on a closed request', async () => {
    answer.mockResolvedValueOnce({ requests: [request('approved')] });
    await panel.refresh();
    expect(
      panel.node.querySelectorAll('.jp-cleanroom-request button')
    ).toHaveLength(0);
  });

  it('notifies when a request changes state, not on the first look', async () => {
    const info = jest.spyOn(Notification, 'info');
    answer.mockResolvedValueOnce({ requests: [request('in_review')] });
    await panel.refresh();
    expect(info).not.toHaveBeenCalled();
    answer.mockResolvedValueOnce({ requests: [request('in_review')] });
    await panel.refresh();
    expect(info).not.toHaveBeenCalled();
    answer.mockResolvedValueOnce({ requests: [request('approved')] });
    await panel.refresh();
    expect(info).toHaveBeenCalledTimes(1);
    expect(info.mock.calls[0][0]).toContain(
      '"Yield table": In review → Approved'
    );
  });

  it('says when the requests cannot be fetched', async () => {
    const { ReleaseError } = jest.requireActual('../request');
    answer.mockRejectedValueOnce(
      new ReleaseError('The airlock is not configured', 503)
    );
    await panel.refresh();
    expect(panel.node.textContent).toContain('The airlock is not configured');
  });

  it('links each request to its page in the airlock, beside the hub', () => {
    expect(airlockPage('r-1')).toBe('/services/airlock/requests/r-1');
  });
});
