import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { IReleaseInitial } from './dialog';

/**
 * What `cleanroom.request_release(...)` in a kernel displays. The kernel cannot send anything
 * itself (it has no network); this output only offers the researcher the usual "Request
 * release" dialog, filled in, which shows exactly what would be sent and sends nothing
 * until the researcher confirms.
 */
export const RELEASE_MIME = 'application/vnd.cleanroom.release-request+json';

export interface IReleaseProposal extends IReleaseInitial {
  paths: string[];
}

const MAX_PATHS = 50;
const MAX_TEXT = 5000;

/** The proposal in an output, checked; null when it is not one. */
export function readProposal(data: unknown): IReleaseProposal | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const raw = data as Record<string, unknown>;
  const paths = raw.paths;
  if (
    !Array.isArray(paths) ||
    paths.length === 0 ||
    paths.length > MAX_PATHS ||
    !paths.every(path => typeof path === 'string' && path.length > 0)
  ) {
    return null;
  }
  const text = (value: unknown, limit: number) =>
    typeof value === 'string' ? value.slice(0, limit) : '';
  return {
    paths: paths as string[],
    title: text(raw.title, 200),
    justification: text(raw.justification, MAX_TEXT)
  };
}

export type ProposalHandler = (proposal: IReleaseProposal) => Promise<void>;

/** The output: which files, and a button that opens the dialog. */
export class ReleaseCard extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly onRequest: ProposalHandler) {
    super();
    this.addClass('jp-cleanroom-ReleaseCard');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.node.replaceChildren();
    const proposal = readProposal(model.data[RELEASE_MIME]);
    const text = document.createElement('p');
    this.node.appendChild(text);
    if (proposal === null) {
      text.textContent =
        'This release request has no files: give request_release() the paths of files in your home.';
      return;
    }
    text.textContent = `Ready to ask for the release of ${proposal.paths.length} file(s): ${proposal.paths.join(', ')}. Nothing is sent until you confirm.`;
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-mod-accept jp-cleanroom-proposal';
    button.textContent = 'Request release…';
    button.onclick = () => void this.onRequest(proposal);
    this.node.appendChild(button);
  }
}

export function releaseCardFactory(
  onRequest: ProposalHandler
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [RELEASE_MIME],
    defaultRank: 10,
    createRenderer: () => new ReleaseCard(onRequest)
  };
}
