import { Notification, showErrorMessage } from '@jupyterlab/apputils';

import { IPreviewFile, IReleaseInitial, askForRelease } from './dialog';
import { IReleaseRequest, stateLabel } from './model';
import { IOutputFile } from './outputs';
import { ReleaseError, postJSON } from './request';

/**
 * The one way out: show exactly what would be sent, ask for the justification and each
 * file's type, send it through the server extension, and say what the airlock decided.
 */
export async function requestRelease(
  paths: string[],
  outputs: IOutputFile[],
  onSent: () => void,
  initial: IReleaseInitial | null = null
): Promise<void> {
  let files: IPreviewFile[] = [];
  try {
    if (paths.length > 0) {
      files = (await postJSON<{ files: IPreviewFile[] }>('preview', { paths }))
        .files;
    }
  } catch (error) {
    await showErrorMessage(
      'These files cannot be released',
      String((error as Error).message)
    );
    return;
  }
  const choice = await askForRelease(files, outputs, initial);
  if (choice === null) {
    return;
  }
  try {
    const request = await postJSON<IReleaseRequest>('requests', choice);
    Notification.success(
      `Release request "${request.title || request.id}" sent: ${stateLabel(request.state)}.`,
      { autoClose: 8000 }
    );
  } catch (error) {
    const reasons = error instanceof ReleaseError ? error.reasons : [];
    await showErrorMessage(
      'The release request was not accepted',
      [String((error as Error).message), ...reasons].join('\n')
    );
  }
  onSent();
}
