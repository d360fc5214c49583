// Small DOM helpers shared by the user view and the operator dashboard.

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// The page's one message line (role=alert): an error by default, or "info"; "" hides it.
export function showMessage(text, kind = "error") {
  const box = $('[data-testid="message"]');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

// A timestamp from the api, in the reader's own locale and time zone.
export function localTime(iso) {
  const date = new Date(iso);
  return iso && !Number.isNaN(date.getTime()) ? date.toLocaleString() : "—";
}
