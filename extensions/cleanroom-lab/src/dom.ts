/** Small DOM helpers the panels and the dialog share: elements with text set, never HTML. */

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function add<K extends keyof HTMLElementTagNameMap>(
  parent: HTMLElement,
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  return parent.appendChild(element(tag, className, text));
}

/**
 * A side panel's top: its heading with a Refresh button, a hint, and a status line; returns
 * the status line.
 */
export function panelTop(
  node: HTMLElement,
  heading: string,
  hint: string,
  refresh: () => void
): HTMLElement {
  const header = add(node, 'div', 'jp-cleanroom-header');
  add(header, 'h2', '', heading);
  const button = add(
    header,
    'button',
    'jp-mod-styled jp-cleanroom-refresh',
    'Refresh'
  );
  button.onclick = refresh;
  add(node, 'p', 'jp-cleanroom-hint', hint);
  return add(node, 'p', 'jp-cleanroom-status');
}
