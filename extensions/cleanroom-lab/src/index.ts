import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import {
  DOWNLOADS_OFF,
  UPLOADS_OFF,
  carriesFiles,
  isForbiddenCommand
} from './lockdown';
import { DatasetsPanel } from './datasets';
import { IOutputFile, outputBaseName, outputFiles } from './outputs';
import { RequestsPanel } from './panel';
import { requestRelease } from './release';
import { releaseCardFactory } from './releasecard';

export const CommandIDs = {
  releaseFiles: 'cleanroom:request-release',
  releaseNotebook: 'cleanroom:request-release-notebook',
  releaseOutput: 'cleanroom:request-release-output',
  openRequests: 'cleanroom:open-requests',
  openDatasets: 'cleanroom:open-datasets'
};

/**
 * Every remaining way out is made invisible, disabled and refused, however it is invoked.
 * The CommandRegistry has no way to remove another plugin's command, so its instance
 * methods are wrapped: menus, context menus, the palette and shortcuts all ask them.
 */
export function guardCommands(commands: CommandRegistry): void {
  const execute = commands.execute.bind(commands);
  const isEnabled = commands.isEnabled.bind(commands);
  const isVisible = commands.isVisible.bind(commands);
  const label = commands.label.bind(commands);
  const forbidden = (id: string, args?: ReadonlyPartialJSONObject): boolean => {
    let shown = '';
    try {
      shown = label(id, args);
    } catch {
      shown = '';
    }
    return isForbiddenCommand(id, shown);
  };
  commands.execute = (id, args) => {
    if (forbidden(id, args)) {
      Notification.warning(DOWNLOADS_OFF, { autoClose: 8000 });
      return Promise.reject(new Error(`${id}: ${DOWNLOADS_OFF}`));
    }
    return execute(id, args);
  };
  commands.isEnabled = (id, args) =>
    !forbidden(id, args) && isEnabled(id, args);
  commands.isVisible = (id, args) =>
    !forbidden(id, args) && isVisible(id, args);
}

/** Files dragged in from the researcher's computer are stopped before any upload. */
function blockDroppedFiles(): void {
  const stop = (event: DragEvent) => {
    if (carriesFiles(event.dataTransfer)) {
      event.preventDefault();
      event.stopPropagation();
      if (event.type === 'drop') {
        Notification.warning(UPLOADS_OFF, { autoClose: 8000 });
      } else if (event.dataTransfer) {
        event.dataTransfer.dropEffect = 'none';
      }
    }
  };
  for (const type of ['dragenter', 'dragover', 'drop'] as const) {
    document.addEventListener(type, stop, true);
  }
}

const lockdown: JupyterFrontEndPlugin<void> = {
  id: 'cleanroom-lab:lockdown',
  description: 'Switches off every download, export, new-tab and upload path.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    guardCommands(app.commands);
    blockDroppedFiles();
    // The upload button and the file input behind it: uploads come through an administrator.
    void app.restored.then(() => {
      document
        .querySelectorAll(
          '.jp-FileBrowser-toolbar .jp-id-upload, .jp-FileBrowser input[type=file]'
        )
        .forEach(node => node.remove());
    });
  }
};

/** The code cell output under the context menu, as the files it can be released as. */
function outputUnderMenu(
  app: JupyterFrontEnd,
  tracker: INotebookTracker
): IOutputFile[] | null {
  const node = app.contextMenuHitTest(candidate =>
    candidate.classList.contains('jp-OutputArea-child')
  );
  if (!node) {
    return null;
  }
  // The notebook that holds the output (not necessarily the current one, side by side).
  const panel: NotebookPanel | undefined = tracker.find(candidate =>
    candidate.node.contains(node)
  );
  if (!panel) {
    return null;
  }
  const cells = panel.content.widgets;
  for (let cellIndex = 0; cellIndex < cells.length; cellIndex++) {
    const cell = cells[cellIndex];
    if (!(cell instanceof CodeCell) || !cell.node.contains(node)) {
      continue;
    }
    const area = cell.outputArea;
    const outputIndex = area.widgets.findIndex(child => child.node === node);
    if (outputIndex < 0) {
      return null;
    }
    const bundle = area.model.get(outputIndex).data;
    return outputFiles(
      bundle,
      outputBaseName(panel.context.path, cellIndex, outputIndex)
    );
  }
  return null;
}

const release: JupyterFrontEndPlugin<void> = {
  id: 'cleanroom-lab:plugin',
  description:
    'Request release of files, notebooks and cell outputs; the requests panel.',
  autoStart: true,
  requires: [IFileBrowserFactory, INotebookTracker, IRenderMimeRegistry],
  optional: [ISettingRegistry, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    browsers: IFileBrowserFactory,
    notebooks: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    settings: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new RequestsPanel(10);
    app.shell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);
    const refresh = () => void panel.refresh();
    // What cleanroom.request_release() displays: the dialog, filled in, on a click.
    rendermime.addFactory(
      releaseCardFactory(proposal =>
        requestRelease(proposal.paths, [], refresh, proposal)
      ),
      0
    );

    app.commands.addCommand(CommandIDs.releaseFiles, {
      label: 'Request release…',
      caption: 'Ask a reviewer to release these files from the clean room',
      isEnabled: () => {
        const browser = browsers.tracker.currentWidget;
        return !!browser && !browser.selectedItems().next().done;
      },
      execute: async () => {
        const browser = browsers.tracker.currentWidget;
        if (!browser) {
          return;
        }
        const paths = Array.from(browser.selectedItems(), item => item.path);
        await requestRelease(paths, [], refresh);
      }
    });

    app.commands.addCommand(CommandIDs.releaseNotebook, {
      label: 'Request Release of This Notebook…',
      caption: 'Save the notebook and ask a reviewer to release it',
      isEnabled: () => notebooks.currentWidget !== null,
      execute: async () => {
        const current = notebooks.currentWidget;
        if (!current) {
          return;
        }
        await current.context.save();
        await requestRelease([current.context.path], [], refresh);
      }
    });

    app.commands.addCommand(CommandIDs.releaseOutput, {
      label: 'Request Release of This Output…',
      caption: 'Send this cell output (as PNG, CSV or HTML) for review',
      isEnabled: () => true,
      execute: async () => {
        const files = outputUnderMenu(app, notebooks);
        if (!files || files.length === 0) {
          Notification.warning(
            'This output has no image or table to release: save it to a file and request release of the file.',
            { autoClose: 8000 }
          );
          return;
        }
        // A table is released as CSV (not also as its HTML); an image as PNG.
        const chosen = files.filter(file => file.kind !== 'html');
        await requestRelease(
          [],
          chosen.length > 0 ? [chosen[0]] : [files[0]],
          refresh
        );
      }
    });

    app.commands.addCommand(CommandIDs.openRequests, {
      label: 'Show Release Requests',
      execute: () => app.shell.activateById(panel.id)
    });

    if (palette) {
      for (const command of [
        CommandIDs.releaseNotebook,
        CommandIDs.openRequests
      ]) {
        palette.addItem({ command, category: 'Clean room' });
      }
    }
    if (settings) {
      void settings
        .load(release.id)
        .then(loaded => {
          const apply = () =>
            panel.setPollSeconds(loaded.get('pollSeconds').composite as number);
          apply();
          loaded.changed.connect(apply);
        })
        .catch(() => undefined);
    }
    void app.restored.then(() => panel.start());
  }
};

/** Put code into the current notebook as a new cell below the active one. */
function insertIntoNotebook(tracker: INotebookTracker, code: string): void {
  const current = tracker.currentWidget;
  if (!current) {
    Notification.info(
      'Open a notebook first: the query is added to the current notebook.',
      { autoClose: 6000 }
    );
    return;
  }
  const notebook = current.content;
  NotebookActions.insertBelow(notebook);
  notebook.activeCell?.model.sharedModel.setSource(code);
}

const datasets: JupyterFrontEndPlugin<void> = {
  id: 'cleanroom-lab:datasets',
  description:
    "The Datasets panel: the project's granted views, and a query of each.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new DatasetsPanel(code =>
      insertIntoNotebook(notebooks, code)
    );
    app.shell.add(panel, 'left', { rank: 150 });
    restorer?.add(panel, panel.id);
    app.commands.addCommand(CommandIDs.openDatasets, {
      label: 'Show Datasets',
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({
      command: CommandIDs.openDatasets,
      category: 'Clean room'
    });
    void app.restored.then(() => panel.refresh());
  }
};

export default [lockdown, release, datasets];
