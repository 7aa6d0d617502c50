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
