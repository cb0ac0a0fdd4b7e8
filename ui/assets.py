"""The page's own CSS and JavaScript.

The script runs once, from the sources panel's `js_on_load`. It injects the
CSS, turns every `[n]` in an answer into a button (in the rendered page
only, so copying an answer still copies plain Markdown), and opens the
matching source in the panel when one is clicked. The n-th answer in the
chat is turn n, whose sources carry the ids `rag-src-<turn>-<n>`.
"""
from __future__ import annotations

import json

CSS = """
#rag-chat button.rag-cite { all: unset; cursor: pointer; color: var(--color-accent); font-weight: 600;
  font-size: .85em; padding: 0 .2em; border-radius: 4px; background: var(--color-accent-soft); }
#rag-chat button.rag-cite:hover, #rag-chat button.rag-cite:focus-visible { text-decoration: underline; }
.rag-sources { max-height: 620px; overflow-y: auto; font-size: 14px; line-height: 1.5; }
.rag-empty { color: var(--body-text-color-subdued); padding: 8px 2px; }
.rag-turn { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin-bottom: 10px; background: var(--background-fill-secondary); }
.rag-turn header { display: flex; gap: .45em; align-items: baseline; margin-bottom: 4px; }
.rag-turn-n { font-weight: 700; }
.rag-mode { font-size: 12px; padding: 0 7px; border-radius: 999px; background: var(--color-accent-soft);
  color: var(--color-accent); white-space: nowrap; }
.rag-q { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  color: var(--body-text-color-subdued); }
.rag-time, .rag-span { font-size: 12px; color: var(--body-text-color-subdued); white-space: nowrap; }
.rag-context { font-size: 12px; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.rag-src { border-top: 1px dashed var(--border-color-primary); padding: 4px 2px; border-radius: 4px; }
.rag-src summary { cursor: pointer; }
.rag-n { font-weight: 700; color: var(--color-accent); }
.rag-lines { margin: 6px 0 2px 2.8em; padding: 0; white-space: pre-wrap; }
.rag-lines li { margin: 0; }
.rag-lines li::marker { color: var(--body-text-color-subdued); font-size: 11px; }
.rag-lines.rag-unnumbered { list-style: none; margin-left: .6em; }
.rag-lines mark { background: #ffe58a; color: inherit; padding: 0 2px; border-radius: 3px; }
.dark .rag-lines mark { background: #7a5d00; }
.rag-flash { animation: rag-flash 1.8s ease-out; }
@keyframes rag-flash { from { background: var(--color-accent-soft); } to { background: transparent; } }
#rag-notice { border: 1px solid #f0c36d; background: #fff8e1; color: #5c4300; border-radius: 8px; padding: 4px 12px; }
.dark #rag-notice { background: #3a2e00; color: #ffe7a3; }
"""

SCRIPT = """
if (!window.__ragPage) {
  window.__ragPage = true;
  const style = document.createElement('style');
  style.id = 'rag-style';
  style.textContent = __CSS__;
  document.head.appendChild(style);
  const CITE = /\\[(\\d+)\\]/g;
  const wrapCitations = () => {
    document.querySelectorAll('#rag-chat [data-testid="bot"]').forEach((bot, i) => {
      const walker = document.createTreeWalker(bot.querySelector('.md') || bot, NodeFilter.SHOW_TEXT);
      const found = [];
      while (walker.nextNode()) {
        const node = walker.currentNode;
        const skip = node.parentElement.closest('.rag-cite, code, pre, a');
        if (node.nodeValue.search(CITE) >= 0 && !skip) found.push(node);
      }
      found.forEach((node) => {
        const text = node.nodeValue;
        const parts = document.createDocumentFragment();
        let last = 0;
        for (const m of text.matchAll(CITE)) {
          parts.append(text.slice(last, m.index));
          const button = document.createElement('button');
          button.type = 'button';
          button.className = 'rag-cite';
          button.dataset.turn = String(i + 1);
          button.dataset.n = m[1];
          button.title = '출처 ' + m[0] + ' 보기';
          button.textContent = m[0];
          parts.append(button);
          last = m.index + m[0].length;
        }
        parts.append(text.slice(last));
        node.replaceWith(parts);
      });
    });
  };
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; wrapCitations(); });
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
  document.addEventListener('click', (event) => {
    const cite = event.target.closest && event.target.closest('.rag-cite');
    if (!cite) return;
    event.preventDefault();
    event.stopPropagation();
    const source = document.getElementById('rag-src-' + cite.dataset.turn + '-' + cite.dataset.n);
    if (!source) return;
    source.open = true;
    source.scrollIntoView({ block: 'nearest' });
    source.classList.remove('rag-flash');
    void source.offsetWidth;
    source.classList.add('rag-flash');
  }, true);
}
""".replace("__CSS__", json.dumps(CSS))
