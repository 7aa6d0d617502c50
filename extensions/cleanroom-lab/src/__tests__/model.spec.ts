import {
  RESUBMITTABLE,
  WITHDRAWABLE,
  findingText,
  humanSize,
  sortedFindings,
  stateChanges,
  stateLabel,
  statesOf
} from '../model';

describe('request states', () => {
  it('reports only requests whose state changed since the last poll', () => {
    const before = statesOf([
      { id: 'r-1', state: 'in_review' },
      { id: 'r-2', state: 'in_review' }
    ]);
    const changes = stateChanges(before, [
      { id: 'r-1', state: 'returned' },
      { id: 'r-2', state: 'in_review' },
      { id: 'r-3', state: 'draft' }
    ]);
    expect(changes.map(c => [c.request.id, c.from, c.to])).toEqual([
      ['r-1', 'in_review', 'returned']
    ]);
  });

  it('offers withdraw for open states and resubmit after returned', () => {
    expect(WITHDRAWABLE.has('in_review')).toBe(true);
    expect(WITHDRAWABLE.has('approved')).toBe(false);
    expect(RESUBMITTABLE.has('returned')).toBe(true);
    expect(RESUBMITTABLE.has('rejected')).toBe(false);
  });

  it('labels states for people and sizes for people', () => {
    expect(stateLabel('returned')).toBe('Returned for changes');
    expect(stateLabel('unknown-state')).toBe('unknown-state');
    expect(humanSize(12)).toBe('12 bytes');
    expect(humanSize(2048)).toBe('2.0 KiB');
    expect(humanSize(5 * 1024 * 1024)).toBe('5.0 MiB');
  });
});

describe("a check's findings", () => {
  it('come worst first, then by row and column', () => {
    const sorted = sortedFindings([
      { row: 4, column: 'n', status: 'warn' },
      { row: 7, column: 'b', status: 'fail' },
      { row: null, status: 'fail' },
      { row: 7, column: 'a', status: 'fail' },
      { row: 1, column: 'n', status: 'error' }
    ]);
    expect(sorted.map(f => `${f.status} ${f.row} ${f.column ?? ''}`)).toEqual([
      'error 1 n',
      'fail 7 a',
      'fail 7 b',
      'fail null ',
      'warn 4 n'
    ]);
    expect(sortedFindings(undefined)).toEqual([]);
  });

  it('read as where, which rule and why', () => {
    expect(
      findingText({
        row: 2,
        column: 'mean_die_yield_pct',
        rule: 'threshold',
        status: 'fail',
        message: '3 organisations contribute; at least 10 are needed',
        location: 'row 3 (plant=P7), column mean_die_yield_pct'
      })
    ).toBe(
      'FAIL row 3 (plant=P7), column mean_die_yield_pct — minimum organisations: ' +
        '3 organisations contribute; at least 10 are needed'
    );
    expect(
      findingText({ row: 0, column: 'n', rule: 'new-rule', status: 'warn' })
    ).toBe('WARN row 1, column n — new-rule');
    expect(findingText({ status: 'fail', message: 'm' })).toBe('FAIL m');
    expect(findingText({ status: 'fail' })).toBe('FAIL');
  });
});
