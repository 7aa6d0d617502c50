import { ReleaseBody } from '../dialog';
import { outputFiles } from '../outputs';

const FILES = [
  {
    path: 'results/means.csv',
    name: 'means.csv',
    size: 2048,
    sha256: 'ab'.repeat(32),
    type: 'table',
    table_spec: { name: 'means.csv.table.json', size: 300 }
  },
  {
    path: 'model.pt',
    name: 'model.pt',
    size: 10,
    sha256: 'cd'.repeat(32),
    type: 'model'
  }
];

describe('the release dialog', () => {
  it('shows exactly what will be sent: each file, its size and hash, and the total', () => {
    const [png] = outputFiles(
      { 'image/png': 'iVBORw0KGgo=' },
      'nb-cell1-output1'
    );
    const body = new ReleaseBody(FILES, [png]);
    const text = body.node.textContent ?? '';
    expect(text).toContain('Exactly these 3 file(s)');
    expect(text).toContain('results/means.csv');
    expect(text).toContain('2.0 KiB');
    expect(text).toContain('abababababab…');
    expect(
      body.node.querySelector('tr[data-path="results/means.csv"]')?.textContent
    ).toContain(
      'verified table: its specification means.csv.table.json (300 bytes) goes with it'
    );
    expect(
      body.node.querySelector(
        'tr[data-path="model.pt"] .jp-cleanroom-tableSpec'
      )
    ).toBeNull();
    expect(text).toContain('nb-cell1-output1.png (cell output)');
    expect(
      body.node.querySelector('.jp-cleanroom-outputPreview img')
    ).not.toBeNull();
  });

  it('returns the chosen types, the title and the justification', () => {
    const body = new ReleaseBody(FILES, []);
    const selects = body.node.querySelectorAll('select');
    expect(Array.from(selects).map(s => s.value)).toEqual(['table', 'model']);
    selects[0].value = 'figure';
    (body.node.querySelector('.jp-cleanroom-title') as HTMLInputElement).value =
      ' Paper ';
    (
      body.node.querySelector(
        '.jp-cleanroom-justification'
      ) as HTMLTextAreaElement
    ).value = ' For the paper ';
    expect(body.getValue()).toEqual({
      title: 'Paper',
      justification: 'For the paper',
      files: [
        { path: 'results/means.csv', type: 'figure' },
        { path: 'model.pt', type: 'model' }
      ],
      outputs: []
    });
  });

  it('asks again keeping what was chosen, and says why', () => {
    const previous = {
      title: 'Paper',
      justification: '',
      files: [
        { path: 'results/means.csv', type: 'text' },
        { path: 'model.pt', type: 'code' }
      ],
      outputs: []
    };
    const body = new ReleaseBody(FILES, [], 'Say why.', previous);
    expect(body.node.querySelector('.jp-cleanroom-problem')?.textContent).toBe(
      'Say why.'
    );
    expect(body.getValue().files.map(f => f.type)).toEqual(['text', 'code']);
    expect(body.getValue().title).toBe('Paper');
  });
});
