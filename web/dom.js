// Small DOM helpers shared by the user view and the operator dashboard.

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// The page's message line: an error (role=alert, the default kind) or "info" (role=status:
// confirmations, read politely); "" clears both. Both live regions are always in the page
// (empty, they take no room), so a screen reader announces what is written into them.
export function showMessage(text, kind = "error") {
  for (const box of document.querySelectorAll('[data-testid="message"] .message')) {
    box.textContent = box.dataset.kind === kind ? text : "";
  }
}

// Clears the error line only (a confirmation stays).
export function clearError() {
  $('[data-testid="message"] .message[data-kind="error"]').textContent = "";
}

// A sentence for screen readers only (the page's polite live region), e.g. a status change.
export function announce(text) {
  const region = $('[data-testid="announcer"]');
  if (!region) return;
  // The same sentence twice is announced twice: cleared first, written a moment later.
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

// A timestamp from the api, in the reader's own locale and time zone.
export function localTime(iso) {
  const date = new Date(iso);
  return iso && !Number.isNaN(date.getTime()) ? date.toLocaleString() : "—";
}
