// Small DOM helpers. Text is always set as text (never parsed as HTML): catalog titles,
// chat messages and names come from other people.

export const $ = (sel, root = document) => root.querySelector(sel);

// h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', childNode, ...)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

// A modal <dialog> that closes on Escape (built in) and on a click on its backdrop.
export function modal(dialog) {
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  return dialog;
}
