import * as fs from 'fs';
import * as path from 'path';

import {
  DISABLED_PLUGINS,
  FORBIDDEN_COMMANDS,
  carriesFiles,
  isForbiddenCommand
} from '../lockdown';

describe('lockdown', () => {
  it('forbids every known way out of JupyterLab 4.6', () => {
    for (const id of [
      'filebrowser:download',
      'filebrowser:copy-download-link',
      'filebrowser:open-browser-tab',
      'filebrowser:share-main',
      'docmanager:download',
      'docmanager:open-browser-tab',
      'notebook:export-to-format',
      'apputils:print',
      'workspace-ui:export'
    ]) {
      expect(isForbiddenCommand(id)).toBe(true);
    }
  });

  it('forbids ways out added by other extensions, by their id', () => {
    expect(isForbiddenCommand('someext:download-all')).toBe(true);
    expect(isForbiddenCommand('other:Export-PDF')).toBe(true);
    expect(isForbiddenCommand('x:copy-shareable-link')).toBe(true);
  });

  it('forbids commands whose label says they lead out', () => {
    expect(isForbiddenCommand('help:whatever', 'Download All Licenses')).toBe(
      true
    );
    expect(isForbiddenCommand('x:y', 'Open in New Browser Tab')).toBe(true);
    expect(isForbiddenCommand('x:y', 'Copy Download Link')).toBe(true);
    expect(isForbiddenCommand('x:y', 'Show Shared Kernels')).toBe(false);
    expect(isForbiddenCommand('cleanroom:request-release', 'Export')).toBe(
      false
    );
  });

  it('leaves ordinary commands and its own release commands alone', () => {
    for (const id of [
      'filebrowser:copy-path',
      'filebrowser:rename',
      'notebook:run-cell',
      'docmanager:save',
      'docmanager:save-as',
      'cleanroom:request-release',
      'cleanroom:request-release-output'
    ]) {
      expect(isForbiddenCommand(id)).toBe(false);
    }
  });

  it('names only commands it forbids', () => {
    for (const id of FORBIDDEN_COMMANDS) {
      expect(isForbiddenCommand(id)).toBe(true);
    }
  });

  it('disables exactly the plugins the notebook image disables', () => {
    const pageConfig = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, '../../../../images/notebook/page_config.json'),
        'utf-8'
      )
    );
    const disabled = Object.keys(pageConfig.disabledExtensions).filter(
      id => pageConfig.disabledExtensions[id] === true
    );
    expect(disabled.sort()).toEqual([...DISABLED_PLUGINS].sort());
  });

  it('recognises dragged files', () => {
    expect(carriesFiles(null)).toBe(false);
    expect(carriesFiles({ types: ['Files'] } as unknown as DataTransfer)).toBe(
      true
    );
    expect(
      carriesFiles({ types: ['text/plain'] } as unknown as DataTransfer)
    ).toBe(false);
  });
});
