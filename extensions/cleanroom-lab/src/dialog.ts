import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { element } from './dom';
import { FILE_TYPES, humanSize } from './model';
import { IOutputFile } from './outputs';

/** A workspace file as the server extension's preview describes it. */
export interface IPreviewFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
  type: string;
  /** A verified table's specification, sent with it (never as a file of its own). */
  table_spec?: { name: string; size: number } | null;
}

/** A title and justification to start the dialog with (from `request_release()`). */
export interface IReleaseInitial {
  title: string;
  justification: string;
}

export interface IReleaseChoice {
  title: string;
  justification: string;
  files: { path: string; type: string }[];
  outputs: { name: string; data: string }[];
}

/**
 * The body of the "Request release" dialog: what will be sent (each file, its size and
 * hash, or the output itself), a type for each file, a title and the justification.
 */
export class ReleaseBody extends Widget {
  private readonly typeSelects: HTMLSelectElement[] = [];
  private readonly titleInput: HTMLInputElement;
  private readonly justification: HTMLTextAreaElement;
  private readonly files: IPreviewFile[];
  private readonly outputs: IOutputFile[];

  constructor(
    files: IPreviewFile[],
    outputs: IOutputFile[],
    problem = '',
    previous: IReleaseChoice | null = null
  ) {
    super();
    this.files = files;
    this.outputs = outputs;
    this.addClass('jp-cleanroom-ReleaseDialog');
    const node = this.node;
    if (problem) {
      node.appendChild(element('p', 'jp-cleanroom-problem', problem));
    }
    const total =
      files.reduce((sum, file) => sum + file.size, 0) +
      outputs.reduce((sum, output) => sum + output.size, 0);
    node.appendChild(
      element(
        'p',
        'jp-cleanroom-summary',
        `Exactly these ${files.length + outputs.length} file(s), ${humanSize(total)} in all, ` +
          'will be sent to the airlock for review. Nothing leaves the clean room until a ' +
          'reviewer approves it.'
      )
    );
    const table = element('table', 'jp-cleanroom-files');
    const head = table.createTHead().insertRow();
    for (const label of ['File', 'Size', 'SHA-256', 'Type']) {
      head.appendChild(element('th', '', label));
    }
    const body = table.createTBody();
    for (const file of files) {
      const row = body.insertRow();
      row.dataset.path = file.path;
      const name = row.insertCell();
      name.textContent = file.path;
      if (file.table_spec) {
        name.appendChild(
          element(
            'div',
            'jp-cleanroom-tableSpec',
            `verified table: its specification ${file.table_spec.name} ` +
              `(${humanSize(file.table_spec.size)}) goes with it`
          )
        );
      }
      row.insertCell().textContent = humanSize(file.size);
      const hash = row.insertCell();
      hash.textContent = file.sha256.slice(0, 12) + '…';
      hash.title = file.sha256;
      row.insertCell().appendChild(this.typeSelect(file.type));
    }
    for (const output of outputs) {
      const row = body.insertRow();
      row.dataset.output = output.name;
      row.insertCell().textContent = `${output.name} (cell output)`;
      row.insertCell().textContent = humanSize(output.size);
      row.insertCell().textContent = output.mediaType;
      row.insertCell().textContent =
        output.kind === 'png'
          ? 'figure'
          : output.kind === 'csv'
            ? 'table'
            : 'text';
    }
    node.appendChild(table);
    for (const output of outputs) {
      const box = element('div', 'jp-cleanroom-outputPreview');
      if (output.kind === 'png') {
        const image = element('img', '');
        image.src = output.preview;
        image.alt = output.name;
        box.appendChild(image);
      } else {
        box.appendChild(element('pre', '', output.preview));
      }
      node.appendChild(box);
    }
    const titleLabel = element(
      'label',
      'jp-cleanroom-field',
      'Title (optional)'
    );
    this.titleInput = element('input', 'jp-mod-styled jp-cleanroom-title');
    // The airlock's own limits (cleanroom.airlock.service.Limits); the server checks again.
    this.titleInput.maxLength = 120;
    titleLabel.appendChild(this.titleInput);
    node.appendChild(titleLabel);
    const reasonLabel = element(
      'label',
      'jp-cleanroom-field',
      'Why should these files leave the clean room? (required)'
    );
    this.justification = element(
      'textarea',
      'jp-mod-styled jp-cleanroom-justification'
    );
    this.justification.rows = 4;
    this.justification.maxLength = 4000;
    reasonLabel.appendChild(this.justification);
    node.appendChild(reasonLabel);
    if (previous) {
      // Asked again (the justification was missing): keep what was already chosen.
      this.titleInput.value = previous.title;
      this.justification.value = previous.justification;
      previous.files.forEach((file, index) => {
        if (this.typeSelects[index]) {
          this.typeSelects[index].value = file.type;
        }
      });
    }
  }

  private typeSelect(selected: string): HTMLSelectElement {
    const select = element('select', 'jp-mod-styled jp-cleanroom-type');
    for (const type of FILE_TYPES) {
      const option = element('option', '', type);
      option.value = type;
      option.selected = type === selected;
      select.appendChild(option);
    }
    this.typeSelects.push(select);
    return select;
  }

  getValue(): IReleaseChoice {
    return {
      title: this.titleInput.value.trim(),
      justification: this.justification.value.trim(),
      files: this.files.map((file, index) => ({
        path: file.path,
        type: this.typeSelects[index].value
      })),
      outputs: this.outputs.map(output => ({
        name: output.name,
        data: output.data
      }))
    };
  }
}

/** Ask until the researcher gives a justification or cancels; null when cancelled. */
export async function askForRelease(
  files: IPreviewFile[],
  outputs: IOutputFile[],
  initial: IReleaseInitial | null = null
): Promise<IReleaseChoice | null> {
  let problem = '';
  let previous: IReleaseChoice | null = initial
    ? {
        ...initial,
        files: files.map(({ path, type }) => ({ path, type })),
        outputs: []
      }
    : null;
  for (;;) {
    const result: Dialog.IResult<IReleaseChoice> = await showDialog({
      title: 'Request release',
      body: new ReleaseBody(files, outputs, problem, previous),
      focusNodeSelector: '.jp-cleanroom-justification',
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Send for review' })
      ]
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    if (result.value.justification.length > 0) {
      return result.value;
    }
    previous = result.value;
    problem = 'Say why these files should leave the clean room.';
  }
}
