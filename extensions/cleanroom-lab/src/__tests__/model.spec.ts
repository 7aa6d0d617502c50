import {
  RESUBMITTABLE,
  WITHDRAWABLE,
  humanSize,
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
