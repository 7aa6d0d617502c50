/**
 * What the clean room's JupyterLab must not do, as data in one place. Pure: no JupyterLab.
 *
 * Two layers inside the browser (the wall is outside the container):
 * - DISABLED_PLUGINS are switched off before JupyterLab starts, by the notebook image's
 *   page_config.json (a jest test keeps the two lists equal), so their commands, menu items
 *   and shortcuts never exist;
 * - every command that remains and matches FORBIDDEN_COMMANDS or FORBIDDEN_PATTERN is made
 *   invisible, disabled and refused by the lockdown plugin, wherever it is invoked from
 *   (menus, context menus, the palette, keyboard shortcuts, other extensions' code).
 */

/** JupyterLab 4.6 plugins whose only job is a way out (download, new tab, share, export). */
export const DISABLED_PLUGINS: readonly string[] = [
  '@jupyterlab/apputils-extension:print',
  '@jupyterlab/docmanager-extension:download',
  '@jupyterlab/docmanager-extension:open-browser-tab',
  '@jupyterlab/filebrowser-extension:download',
  '@jupyterlab/filebrowser-extension:open-browser-tab',
  '@jupyterlab/filebrowser-extension:share-file',
  '@jupyterlab/notebook-extension:export'
];

/** Command ids that download, export, print, share or open a file outside JupyterLab. */
export const FORBIDDEN_COMMANDS: ReadonlySet<string> = new Set([
  'apputils:print',
  'docmanager:download',
  'docmanager:open-browser-tab',
  'filebrowser:copy-download-link',
  'filebrowser:download',
  'filebrowser:open-browser-tab',
  'filebrowser:open-url',
  'filebrowser:share-main',
  'filebrowser:upload',
  'help:license-report',
  'notebook:export-to-format',
  'settingeditor:export',
  'settingeditor:import',
  'workspace-ui:export',
  'workspace-ui:import',
  'workspace-ui:save-as'
]);

/** Any other command, from any extension, whose id says it is a way out (fail closed). */
export const FORBIDDEN_PATTERN =
  /(download|export|browser-tab|share|print|upload|open-url|import)/i;

/** ... or whose label, as a menu shows it, says so. */
export const FORBIDDEN_LABEL =
  /\b(download|downloads|export|print|share|upload)\b|browser tab|new tab|download link/i;

/** Our own commands never match: they are the way out that is allowed. */
export const OWN_PREFIX = 'cleanroom:';

export function isForbiddenCommand(id: string, label = ''): boolean {
  if (id.startsWith(OWN_PREFIX)) {
    return false;
  }
  return (
    FORBIDDEN_COMMANDS.has(id) ||
    FORBIDDEN_PATTERN.test(id) ||
    FORBIDDEN_LABEL.test(label)
  );
}

export const DOWNLOADS_OFF =
  'Downloads, exports and new-tab views are switched off in the clean room. ' +
  'To take something out, use "Request release…": a reviewer checks it and releases it to you.';

export const UPLOADS_OFF =
  'Uploads are switched off in the clean room: material comes in through an administrator for now.';

/** Does a drag-and-drop event carry files from the researcher's computer? */
export function carriesFiles(transfer: DataTransfer | null): boolean {
  if (!transfer) {
    return false;
  }
  return Array.from(transfer.types ?? []).includes('Files');
}
