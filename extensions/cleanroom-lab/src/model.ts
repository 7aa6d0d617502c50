/**
 * The airlock's request object as the server extension passes it on (the agreed
 * contract), and the rules the front end needs about its states. Pure: no JupyterLab.
 */

export type RequestState =
  | 'draft'
  | 'submitted'
  | 'in_review'
  | 'returned'
  | 'approved'
  | 'rejected'
  | 'released'
  | 'withdrawn'
  | 'revoked';

export interface IVote {
  reviewer: string;
  decision: string;
  comment?: string;
  at?: string;
}

export interface IRequestFile {
  name: string;
  type: string;
  size: number;
  sha256?: string;
  media_type?: string;
  version?: number;
  votes?: IVote[];
}

/** One place a check flagged, e.g. a verified table's cell (`row`: 0-based data row). */
export interface IFinding {
  row?: number | null;
  column?: string | null;
  rule?: string;
  status: string;
  message?: string;
  location?: string;
}

export interface ICheck {
  check: string;
  file?: string;
  status: string;
  message?: string;
  findings?: IFinding[];
  metrics?: Record<string, unknown>;
}

export interface IComment {
  by: string;
  file?: string;
  text: string;
  at?: string;
}

export interface IReleaseRequest {
  id: string;
  title?: string | null;
  project?: string;
  requester?: string;
  state: RequestState | string;
  justification?: string;
  created_at?: string;
  updated_at?: string;
  reasons?: string[];
  reviewers_required?: number;
  files?: IRequestFile[];
  checks?: ICheck[];
  comments?: IComment[];
}

/** What a researcher calls each state. */
export const STATE_LABELS: Record<string, string> = {
  draft: 'Draft (not submitted)',
  submitted: 'Submitted',
  in_review: 'In review',
  returned: 'Returned for changes',
  approved: 'Approved: download it from outside the clean room',
  rejected: 'Rejected',
  released: 'Released',
  withdrawn: 'Withdrawn',
  revoked: 'Revoked'
};

/** States from which the requester may withdraw (the airlock decides; this hides the button). */
export const WITHDRAWABLE: ReadonlySet<string> = new Set([
  'draft',
  'submitted',
  'in_review',
  'returned'
]);

/** States from which the requester may send changed files and submit again. */
export const RESUBMITTABLE: ReadonlySet<string> = new Set([
  'returned',
  'draft'
]);

/** What a researcher calls each disclosure rule of a verified table (the airlock's names). */
export const RULE_LABELS: Record<string, string> = {
  threshold: 'minimum organisations',
  'nk-rule': '(n, k) dominance',
  'p-ratio': 'p% rule',
  zeros: 'zeros',
  'single-value': 'single value',
  recompute: 'recomputed from the specification'
};

/** Findings the panel lists per check; the rest are counted (all are on the airlock page). */
export const MAX_FINDINGS_SHOWN = 50;

/** Statuses, worst first. */
const STATUS_ORDER = ['error', 'fail', 'warn', 'pass'];

/** A check's findings, worst first, then by row and column. */
export function sortedFindings(findings: IFinding[] | undefined): IFinding[] {
  const rank = (f: IFinding) => {
    const index = STATUS_ORDER.indexOf(f.status);
    return index < 0 ? STATUS_ORDER.length : index;
  };
  return [...(findings ?? [])].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.row ?? Infinity) - (b.row ?? Infinity) ||
      (a.column ?? '').localeCompare(b.column ?? '')
  );
}

/** One finding as the researcher reads it: where, which rule, why. */
export function findingText(finding: IFinding): string {
  const where =
    finding.location ||
    (typeof finding.row === 'number'
      ? `row ${finding.row + 1}${finding.column ? `, column ${finding.column}` : ''}`
      : '');
  const rule = finding.rule ? (RULE_LABELS[finding.rule] ?? finding.rule) : '';
  const why = [rule, finding.message].filter(Boolean).join(': ');
  const status = finding.status.toUpperCase();
  if (!where) {
    return why ? `${status} ${why}` : status;
  }
  return `${status} ${where}${why ? ` — ${why}` : ''}`;
}

export function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state;
}

export interface IStateChange {
  request: IReleaseRequest;
  from: string;
  to: string;
}

/** The requests whose state differs from the last poll (new requests are not changes). */
export function stateChanges(
  previous: ReadonlyMap<string, string>,
  current: IReleaseRequest[]
): IStateChange[] {
  const changes: IStateChange[] = [];
  for (const request of current) {
    const before = previous.get(request.id);
    if (before !== undefined && before !== request.state) {
      changes.push({ request, from: before, to: request.state });
    }
  }
  return changes;
}

export function statesOf(requests: IReleaseRequest[]): Map<string, string> {
  return new Map(requests.map(request => [request.id, request.state]));
}

export function humanSize(size: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB'];
  let value = size;
  for (const unit of units) {
    if (value < 1024 || unit === 'GiB') {
      return unit === 'bytes'
        ? `${value} bytes`
        : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1024;
  }
  return `${size} bytes`;
}

/** The file types the airlock knows (also served by the server extension's settings). */
export const FILE_TYPES = [
  'table',
  'figure',
  'model',
  'notebook',
  'text',
  'code',
  'report',
  'archive'
] as const;
