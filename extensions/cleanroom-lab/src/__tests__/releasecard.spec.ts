import { RELEASE_MIME, ReleaseCard, readProposal } from '../releasecard';

describe('a release request proposed from a kernel', () => {
  it('is read only when it names files', () => {
    expect(
      readProposal({ paths: ['a.csv'], title: 't', justification: 'j' })
    ).toEqual({
      paths: ['a.csv'],
      title: 't',
      justification: 'j'
    });
    expect(readProposal({ paths: [] })).toBeNull();
    expect(readProposal({ paths: [3] })).toBeNull();
    expect(readProposal('a.csv')).toBeNull();
    expect(readProposal({ paths: Array(51).fill('a') })).toBeNull();
    expect(
      readProposal({ paths: ['a'], title: 'x'.repeat(500) })?.title
    ).toHaveLength(200);
  });

  it('opens the dialog only when the researcher clicks', async () => {
    const asked: unknown[] = [];
    const card = new ReleaseCard(async proposal => {
      asked.push(proposal);
    });
    const data = {
      paths: ['out/a.csv', 'out/b.png'],
      title: 'T',
      justification: 'J'
    };
    await card.renderModel({
      data: { [RELEASE_MIME]: data },
      metadata: {},
      trusted: false,
      setData: () => undefined
    } as never);
    expect(card.node.textContent).toContain('out/a.csv, out/b.png');
    expect(asked).toHaveLength(0);
    (card.node.querySelector('button') as HTMLButtonElement).click();
    expect(asked).toEqual([data]);
    card.dispose();
  });
});
