import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server extension's error: its message, and the release policy's reasons if any. */
export class ReleaseError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reasons: string[] = [],
    readonly body: Record<string, unknown> = {}
  ) {
    super(message);
  }
}

/**
 * Call the server extension's API (`<base_url>cleanroom-lab/<endPoint>`) with the
 * researcher's own session; errors become `ReleaseError`s with the server's message.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'cleanroom-lab', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ReleaseError(`The server cannot be reached: ${String(error)}`, 0);
  }
  const text = await response.text();
  let data: Record<string, unknown> = {};
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!response.ok) {
    const message =
      typeof data.error === 'string'
        ? data.error
        : `The server refused this (${response.status}).`;
    const reasons = Array.isArray(data.reasons)
      ? data.reasons.map(reason => String(reason))
      : [];
    throw new ReleaseError(message, response.status, reasons, data);
  }
  return data as T;
}

export function postJSON<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}
