import {
  Dialog,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import {
  ICheck,
  IReleaseRequest,
  MAX_FINDINGS_SHOWN,
  RESUBMITTABLE,
  WITHDRAWABLE,
  findingText,
  humanSize,
  sortedFindings,
  stateChanges,
  stateLabel,
  statesOf
} from './model';
import { add, panelTop } from './dom';
import { ReleaseError, postJSON, requestAPI } from './request';

/** The airlock's page for a request, as the browser reaches it (beside the hub). */
export function airlockPage(requestId: string): string {
  const hubPrefix = PageConfig.getOption('hubPrefix') || '/hub/';
  const root = hubPrefix.replace(/hub\/?$/, '');
  return URLExt.join(
    PageConfig.getOption('hubHost') || '',
    root || '/',
    'services/airlock/requests',
    encodeURIComponent(requestId)
  );
}

/**
 * The side panel: the researcher's release requests with their live state, checks,
 * reviewers' comments; withdraw, and resubmit after "returned for changes". It polls the
 * server extension and notifies when a request changes state.
 */
export class RequestsPanel extends Widget {
  private previous: Map<string, string> | null = null;
  private timer: number | undefined;
  private readonly list: HTMLElement;
  private readonly status: HTMLElement;

  constructor(private pollSeconds: number) {
    super();
    this.id = 'cleanroom-requests';
    this.addClass('jp-cleanroom-RequestsPanel');
    this.title.caption = 'Release requests';
    this.title.label = 'Releases';
    this.status = panelTop(
      this.node,
      'Release requests',
      'To take a file, a notebook or a cell output out of the clean room, right-click it and ' +
        'choose "Request release…". A reviewer checks it; approved files are downloaded ' +
        'from outside the clean room.',
      () => void this.refresh()
    );
    this.list = add(this.node, 'div', 'jp-cleanroom-list');
  }

  setPollSeconds(seconds: number): void {
    this.pollSeconds = seconds;
    this.schedule();
  }

  /** Start polling (also when the panel is hidden: notifications need it). */
  start(): void {
    void this.refresh();
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    if (!this.isDisposed) {
      this.timer = window.setTimeout(
        () => void this.refresh(),
        Math.max(2, this.pollSeconds) * 1000
      );
    }
  }

  async refresh(): Promise<void> {
    try {
      const { requests } = await requestAPI<{ requests: IReleaseRequest[] }>(
        'requests'
      );
      if (this.previous !== null) {
        for (const change of stateChanges(this.previous, requests)) {
          const name = change.request.title || change.request.id;
          Notification.info(
            `Release request "${name}": ${stateLabel(change.from)} → ${stateLabel(change.to)}`,
            { autoClose: 10000 }
          );
        }
      }
      this.previous = statesOf(requests);
      this.status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      this.render(requests);
    } catch (error) {
      this.status.textContent =
        error instanceof ReleaseError ? error.message : String(error);
    } finally {
      this.schedule();
    }
  }

  private render(requests: IReleaseRequest[]): void {
    this.list.textContent = '';
    if (requests.length === 0) {
      add(this.list, 'p', 'jp-cleanroom-empty', 'No release requests yet.');
      return;
    }
    for (const request of requests) {
      this.renderRequest(request);
    }
  }

  private renderRequest(request: IReleaseRequest): void {
    const card = add(this.list, 'div', 'jp-cleanroom-request');
    card.dataset.requestId = request.id;
    card.dataset.state = request.state;
    const top = add(card, 'div', 'jp-cleanroom-requestTop');
    add(top, 'span', 'jp-cleanroom-requestTitle', request.title || request.id);
    add(
      top,
      'span',
      `jp-cleanroom-state jp-cleanroom-state-${request.state}`,
      stateLabel(request.state)
    );
    if (request.updated_at) {
      add(card, 'div', 'jp-cleanroom-when', `Updated ${request.updated_at}`);
    }
    if (request.justification) {
      add(card, 'div', 'jp-cleanroom-justificationText', request.justification);
    }
    const files = add(card, 'ul', 'jp-cleanroom-requestFiles');
    for (const file of request.files ?? []) {
      const item = add(
        files,
        'li',
        '',
        `${file.name} (${file.type}, ${humanSize(file.size)}` +
          (file.version && file.version > 1
            ? `, version ${file.version}`
            : '') +
          ')'
      );
      for (const vote of file.votes ?? []) {
        add(
          item,
          'div',
          'jp-cleanroom-vote',
          `${vote.reviewer}: ${vote.decision}${vote.comment ? ` — ${vote.comment}` : ''}`
        );
      }
    }
    if ((request.checks ?? []).length > 0) {
      const checks = add(card, 'ul', 'jp-cleanroom-checks');
      for (const check of request.checks ?? []) {
        const item = add(
          checks,
          'li',
          `jp-cleanroom-check jp-cleanroom-check-${check.status}`,
          `${check.status.toUpperCase()} ${check.check}${check.file ? ` (${check.file})` : ''}` +
            (check.message ? `: ${check.message}` : '')
        );
        this.renderFindings(item, check);
      }
    }
    for (const comment of request.comments ?? []) {
      add(
        card,
        'div',
        'jp-cleanroom-comment',
        `${comment.by}${comment.file ? ` on ${comment.file}` : ''}: ${comment.text}`
      );
    }
    for (const reason of request.reasons ?? []) {
      add(card, 'div', 'jp-cleanroom-reason', reason);
    }
    const actions = add(card, 'div', 'jp-cleanroom-actions');
    // The airlock's own page: reviews in full, and the download once approved (the
    // browser is outside the clean room; the airlock refuses downloads from inside it).
    const link = add(
      actions,
      'a',
      'jp-cleanroom-airlockLink',
      'Open in the airlock'
    );
    link.href = airlockPage(request.id);
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    if (RESUBMITTABLE.has(request.state)) {
      const button = add(
        actions,
        'button',
        'jp-mod-styled jp-mod-accept',
        'Resubmit…'
      );
      button.onclick = () => void this.resubmit(request);
    }
    if (WITHDRAWABLE.has(request.state)) {
      const button = add(
        actions,
        'button',
        'jp-mod-styled jp-mod-warn',
        'Withdraw'
      );
      button.onclick = () => void this.withdraw(request);
    }
  }

  /**
   * Which places a check flagged and why (a verified table's cells: the rule and the
   * reason, counts of organisations only), so the researcher can fix the table and resubmit.
   */
  private renderFindings(item: HTMLElement, check: ICheck): void {
    // A verified table: which table the airlock recomputed, in one sentence.
    const described = check.metrics?.described;
    if (typeof described === 'string' && described) {
      add(item, 'div', 'jp-cleanroom-described', `Table: ${described}`);
    }
    const findings = sortedFindings(check.findings);
    if (findings.length === 0) {
      return;
    }
    add(
      item,
      'div',
      'jp-cleanroom-findingsHint',
      check.check === 'table'
        ? `${findings.length} cell(s) flagged by this check:`
        : `${findings.length} finding(s):`
    );
    const list = add(item, 'ul', 'jp-cleanroom-findings');
    for (const finding of findings.slice(0, MAX_FINDINGS_SHOWN)) {
      add(
        list,
        'li',
        `jp-cleanroom-finding jp-cleanroom-check-${finding.status}`,
        findingText(finding)
      );
    }
    if (findings.length > MAX_FINDINGS_SHOWN) {
      add(
        list,
        'li',
        'jp-cleanroom-finding jp-cleanroom-findingsMore',
        `…and ${findings.length - MAX_FINDINGS_SHOWN} more: open the request in the airlock to see every one.`
      );
    }
  }

  private async withdraw(request: IReleaseRequest): Promise<void> {
    const answer = await showDialog({
      title: 'Withdraw this release request?',
      body: `"${request.title || request.id}" will not be reviewed or released.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Withdraw' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await postJSON(`requests/${encodeURIComponent(request.id)}/withdraw`, {});
    } catch (error) {
      await showErrorMessage(
        'Withdraw failed',
        String((error as Error).message)
      );
    }
    await this.refresh();
  }

  private async resubmit(request: IReleaseRequest): Promise<void> {
    const body = document.createElement('div');
    add(
      body,
      'p',
      '',
      'The current version of each file is sent again from your workspace (cell outputs ' +
        'stay as they were). Say what you changed:'
    );
    const text = add(
      body,
      'textarea',
      'jp-mod-styled jp-cleanroom-justification'
    );
    text.rows = 4;
    text.value = request.justification ?? '';
    const answer = await showDialog({
      title: 'Resubmit release request',
      body: new Widget({ node: body }),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Resubmit' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await postJSON(`requests/${encodeURIComponent(request.id)}/resubmit`, {
        justification: text.value
      });
    } catch (error) {
      const reasons = error instanceof ReleaseError ? error.reasons : [];
      await showErrorMessage(
        'Resubmit refused',
        [String((error as Error).message), ...reasons].join('\n')
      );
    }
    await this.refresh();
  }
}
