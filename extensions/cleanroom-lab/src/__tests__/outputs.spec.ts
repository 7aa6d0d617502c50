import {
  base64Size,
  htmlTableToCsv,
  outputBaseName,
  outputFiles,
  utf8Base64
} from '../outputs';

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('cell outputs become files', () => {
  it('an image becomes a PNG of exactly its bytes', () => {
    const [file] = outputFiles(
      { 'image/png': PNG + '\n', 'text/plain': '<Figure>' },
      'n-cell1-output1'
    );
    expect(file.name).toBe('n-cell1-output1.png');
    expect(file.data).toBe(PNG);
    expect(file.size).toBe(Buffer.from(PNG, 'base64').length);
    expect(file.preview.startsWith('data:image/png;base64,')).toBe(true);
  });

  it('a DataFrame becomes a CSV, and its HTML is the second choice', () => {
    const html =
      '<div><table class="dataframe"><thead><tr><th></th><th>plant</th><th>mean</th></tr></thead>' +
      '<tbody><tr><th>0</th><td>A, north</td><td>1.5</td></tr>' +
      '<tr><th>1</th><td>say "B"</td><td>2</td></tr></tbody></table></div>';
    const files = outputFiles({ 'text/html': html }, 'x');
    expect(files.map(f => f.kind)).toEqual(['csv', 'html']);
    const csv = Buffer.from(files[0].data, 'base64').toString('utf-8');
    expect(csv).toBe(',plant,mean\n0,"A, north",1.5\n1,"say ""B""",2\n');
    expect(files[0].size).toBe(Buffer.byteLength(csv));
  });

  it('HTML without a table stays HTML; text alone is not releasable', () => {
    expect(
      outputFiles({ 'text/html': ['<b>', 'hi', '</b>'] }, 'x').map(f => f.kind)
    ).toEqual(['html']);
    expect(outputFiles({ 'text/plain': 'hello' }, 'x')).toEqual([]);
    expect(htmlTableToCsv('<p>no table</p>')).toBeNull();
  });

  it('encodes UTF-8 and counts bytes', () => {
    expect(
      Buffer.from(utf8Base64('Zürich €'), 'base64').toString('utf-8')
    ).toBe('Zürich €');
    expect(base64Size(utf8Base64('abcd'))).toBe(4);
    expect(base64Size(utf8Base64('abcde'))).toBe(5);
  });

  it('names outputs after the notebook, cell and output, plainly', () => {
    expect(outputBaseName('work/My Analysis.ipynb', 2, 0)).toBe(
      'My Analysis-cell3-output1'
    );
    expect(outputBaseName('../.evil/..ipynb', 0, 0)).toBe(
      'notebook-cell1-output1'
    );
    expect(outputBaseName('a/b$c?.ipynb', 0, 1)).toBe('b_c_-cell1-output2');
  });
});
