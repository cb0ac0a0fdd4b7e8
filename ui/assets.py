"""The page's own CSS and JavaScript.

The script runs from the sources panel's `js_on_load` (the chat tab is the
first tab, so it is always mounted). It injects the CSS, then decorates
what Gradio renders, in the rendered page only, so copying an answer still
copies plain Markdown:

- every `[n]` in an answer (chat and quiz) becomes a button. On a desktop a
  click opens the source in the side panel and hovering shows the cited
  sentence in a popover; on a phone (≤ 640 px) a click opens a bottom
  sheet, and closing it returns to the same place. A `[n]` that starts a
  line of the answer's 출처 list opens the notes browser at those lines.
- the "검색: …" line under an answer becomes an editable box with
  "다시 묻기", and every answer gets "도움됐어요 / 틀렸어요" with an
  optional comment. Both go to the server as events of the sources panel
  (`trigger('submit', …)`, `trigger('click', …)`), read by `ui/chat.py`.
- "노트에서 보기" buttons and heading links open the notes tab at a line
  and highlight the cited lines.
- a counter under the input shows the length against the page's limit and
  refuses to send above it.
- a new answer is shown from its question down (the chat does not jump to
  the answer's last line).

The n-th answer in the chat is turn n; its sources carry the ids
`rag-src-<turn>-<n>` (the quiz's are `rag-src-quiz-<n>`).
"""
from __future__ import annotations

import json

PHONE = 640  # px: at or below this width the page uses its phone layout

CSS = """
button.rag-cite { all: unset; cursor: pointer; color: var(--color-accent); font-weight: 600;
  font-size: .85em; padding: 0 .2em; border-radius: 4px; background: var(--color-accent-soft); }
button.rag-cite:hover, button.rag-cite:focus-visible { text-decoration: underline; }
.rag-sources { max-height: 620px; overflow-y: auto; font-size: 14px; line-height: 1.5; }
.rag-quiz-sources { max-height: none; }
.rag-empty { color: var(--body-text-color-subdued); padding: 8px 2px; }
.rag-hint, .rag-hint p { color: var(--body-text-color-subdued); font-size: 13px; }
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
.rag-lines { margin: 6px 0 2px 2.8em; padding: 0; }
.rag-lines li { margin: 0; }
.rag-lines li::marker { color: var(--body-text-color-subdued); font-size: 11px; }
.rag-lines.rag-unnumbered { list-style: none; margin-left: .6em; }
mark { background: #ffe58a; color: inherit; padding: 0 2px; border-radius: 3px; }
.dark mark { background: #7a5d00; }
.rag-li .rag-bullet { display: inline-block; width: 1.1em; color: var(--body-text-color-subdued); }
.rag-depth-1 { padding-left: 1.1em; } .rag-depth-2 { padding-left: 2.2em; } .rag-depth-3 { padding-left: 3.3em; }
.rag-depth-4, .rag-depth-5, .rag-depth-6 { padding-left: 4.4em; }
.rag-h { font-weight: 700; } .rag-h1 { font-size: 1.25em; } .rag-h2 { font-size: 1.12em; } .rag-h3 { font-size: 1.04em; }
.rag-code { font-family: var(--font-mono); font-size: .9em; white-space: pre-wrap; }
.rag-quote { border-left: 3px solid var(--border-color-primary); padding-left: .6em; }
#rag-sources button.rag-open-note, #rag-quiz-sources button.rag-open-note, #rag-sheet button.rag-open-note {
  all: unset; cursor: pointer; display: inline-block; margin: 2px 0 4px 2.8em; font-size: 12px; font-weight: 400;
  color: var(--color-accent); }
#rag-sources button.rag-open-note:hover, #rag-quiz-sources button.rag-open-note:hover,
#rag-sheet button.rag-open-note:hover { text-decoration: underline; }
.rag-flash { animation: rag-flash 1.8s ease-out; }
@keyframes rag-flash { from { background: var(--color-accent-soft); } to { background: transparent; } }
#rag-notice { border: 1px solid #f0c36d; background: #fff8e1; color: #5c4300; border-radius: 8px; padding: 4px 12px; }
.dark #rag-notice { background: #3a2e00; color: #ffe7a3; }
#rag-counter { font-size: 12px; color: var(--body-text-color-subdued); text-align: right; padding: 2px 4px 0; }
#rag-counter.rag-over { color: #c0392b; font-weight: 700; }
#rag-chat .rag-retrieval { display: flex; gap: 6px; align-items: center; font-size: 13px; margin-top: 4px;
  color: var(--body-text-color-subdued); }
#rag-chat .rag-retrieval input { flex: 1; min-width: 0; font-size: 13px; padding: 2px 6px; border-radius: 6px;
  border: 1px dashed var(--border-color-primary); background: transparent; color: var(--body-text-color); }
#rag-chat .rag-retrieval input:focus { border-style: solid; outline: none; border-color: var(--color-accent); }
#rag-chat .rag-retrieval button, .rag-fb button { font-size: 12px; padding: 2px 8px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); cursor: pointer;
  color: var(--body-text-color); white-space: nowrap; }
.rag-fb { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 6px; font-size: 12px; }
.rag-fb textarea { flex-basis: 100%; min-height: 2.6em; font-size: 13px; padding: 4px 6px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); color: var(--body-text-color); }
.rag-fb .rag-fb-done { color: var(--color-accent); }
.rag-fb button.rag-picked { border-color: var(--color-accent); color: var(--color-accent); }
#rag-popover { position: fixed; z-index: 1000; max-width: 420px; padding: 8px 10px; border-radius: 8px;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary);
  box-shadow: 0 6px 24px rgba(0,0,0,.18); font-size: 13px; line-height: 1.45; pointer-events: none; }
#rag-popover .rag-pop-path { color: var(--body-text-color-subdued); font-size: 12px; margin-bottom: 4px; }
#rag-sheet-backdrop { position: fixed; inset: 0; background: rgba(0,0,0,.35); z-index: 998; }
#rag-sheet { position: fixed; left: 0; right: 0; bottom: 0; z-index: 999; max-height: 70vh; overflow-y: auto;
  background: var(--background-fill-primary); border-radius: 14px 14px 0 0; padding: 10px 14px 18px;
  box-shadow: 0 -6px 24px rgba(0,0,0,.25); font-size: 14px; line-height: 1.5; }
#rag-sheet header { display: flex; gap: 8px; align-items: baseline; position: sticky; top: -10px; padding: 6px 0;
  background: var(--background-fill-primary); }
#rag-sheet header .rag-path { flex: 1; font-weight: 600; }
#rag-sheet .rag-sheet-close { font-size: 14px; padding: 4px 10px; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); color: var(--body-text-color); }
#rag-sheet .rag-lines { margin-left: 2.2em; }
#rag-sheet button.rag-open-note { margin-left: 2.2em; font-size: 14px; }
.rag-notes { max-height: 78vh; overflow-y: auto; font-size: 14px; line-height: 1.55; text-align: left; }
.rag-toc, .rag-results-box { max-height: 38vh; overflow-y: auto; font-size: 13px; text-align: left; }
.rag-toc { display: flex; flex-direction: column; border-top: 1px solid var(--border-color-primary); padding-top: 6px; }
.rag-toc-file b { display: block; margin: 4px 0; }
#rag-notes-toc a.rag-toc-link { display: block; padding: 1px 0; color: var(--body-text-color); text-decoration: none;
  font-size: 13px; text-align: left; }
#rag-notes-toc a.rag-toc-link:hover { color: var(--color-accent); }
#rag-notes-toc a.rag-toc-1 { font-weight: 700; } #rag-notes-toc a.rag-toc-2 { padding-left: .8em; font-weight: 600; }
#rag-notes-toc a.rag-toc-3 { padding-left: 1.6em; font-weight: 400; }
#rag-notes-toc a.rag-toc-4 { padding-left: 2.4em; font-weight: 400; color: var(--body-text-color-subdued); }
.rag-results { padding-left: 1.6em; margin: 0; }
.rag-results li { margin-bottom: 6px; }
#rag-notes-results button.rag-open-note { all: unset; cursor: pointer; display: block; margin: 0; color: var(--body-text-color); font-size: 13px;
  font-weight: 400; text-align: left; line-height: 1.45; }
#rag-notes-results button.rag-open-note:hover { color: var(--color-accent); }
.rag-count { font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
.rag-note-title { margin: 4px 0 8px; }
.rag-nl { display: grid; grid-template-columns: 3.2em 1fr; gap: 0 .6em; border-radius: 4px; scroll-margin: 40vh 0; }
.rag-notes .rag-ln { text-align: right; color: var(--body-text-color-subdued); font-size: 11px; font-weight: 400;
  padding-top: .3em; user-select: none; }
.rag-lt { min-width: 0; overflow-wrap: anywhere; }
.rag-note-hit { background: #fff3bf; box-shadow: inset 3px 0 0 #f0b400; }
.dark .rag-note-hit { background: #4a3b00; }
.rag-corrected .rag-lt > s, .rag-corrected .rag-lt s { color: var(--body-text-color-subdued); }
.rag-erratum { margin: 2px 0 4px; padding: 2px 8px; border-left: 3px solid #2e7d32; background: #edf7ed;
  color: #1b4d1e; font-size: 13px; border-radius: 0 6px 6px 0; }
.dark .rag-erratum { background: #14301a; color: #b9e4bd; }
#rag-chat-tools { align-items: center; gap: 8px; }
#rag-chat .icon-button-wrapper.top-panel { z-index: 20; background: var(--block-background-fill);
  border-radius: var(--radius-sm); box-shadow: 0 0 0 4px var(--block-background-fill); }
#rag-chat .panel-wrap { padding-top: 30px; }
#rag-chat .placeholder { padding: 0 16px; }
#rag-chat .examples { gap: 8px; padding: 0 12px; }
#rag-chat button.example { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 12px;
  background: var(--background-fill-secondary); text-align: left; min-height: 0; }
#rag-chat button.example:hover { border-color: var(--color-accent); }
#rag-compose { gap: 2px; }
#rag-quiz-result { border-top: 1px solid var(--border-color-primary); padding-top: 4px; }
@media (max-width: __PHONE__px) {
  #rag-header p { display: none; }
  #rag-header h2 { font-size: 1.15em; margin: 0; }
  #rag-sources-col { display: none !important; }
  #rag-chat { height: auto !important; min-height: 120px !important; max-height: none !important; }
  #rag-chat .bubble-wrap, #rag-chat > div { height: auto !important; max-height: none !important; }
  #rag-compose { position: fixed !important; left: 0; right: 0; bottom: 0; z-index: 50; margin: 0 !important;
    padding: 8px 10px calc(6px + env(safe-area-inset-bottom)) !important; background: var(--background-fill-primary);
    box-shadow: 0 -2px 12px rgba(0,0,0,.12); border-top: 1px solid var(--border-color-primary); }
  body { padding-bottom: 96px; }
  #rag-mode .wrap { gap: 4px; }
  #rag-mode .info { display: none; }
}
""".replace("__PHONE__", str(PHONE))

SCRIPT = """
window.__ragTrigger = trigger;
if (!window.__ragPage) {
  window.__ragPage = true;
  const style = document.createElement('style');
  style.id = 'rag-style';
  style.textContent = __CSS__;
  document.head.appendChild(style);
  const PHONE = __PHONE__;
  const CITE = /\\[(\\d+)\\]/g;
  const SOURCE_LINE = /^\\s+[^\\s\\[\\]]+ \\u203a /;
  const isPhone = () => window.matchMedia('(max-width: ' + PHONE + 'px)').matches;
  const send = (event, data) => window.__ragTrigger && window.__ragTrigger(event, data);

  const answerRoots = () => {
    const roots = [];
    document.querySelectorAll('#rag-chat [data-testid="bot"]').forEach((bot, i) => roots.push([bot, String(i + 1)]));
    const quiz = document.querySelector('#rag-quiz-result');
    if (quiz) roots.push([quiz, 'quiz']);
    return roots;
  };

  const wrapCitations = (root, turn) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const skip = node.parentElement.closest('.rag-cite, code, pre, a, button, textarea, .rag-retrieval, .rag-fb');
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
        if (SOURCE_LINE.test(text.slice(m.index + m[0].length))) button.classList.add('rag-cite-src');
        button.dataset.turn = turn;
        button.dataset.n = m[1];
        button.title = button.classList.contains('rag-cite-src') ? '노트에서 ' + m[0] + ' 열기' : '출처 ' + m[0] + ' 보기';
        button.textContent = m[0];
        parts.append(button);
        last = m.index + m[0].length;
      }
      parts.append(text.slice(last));
      node.replaceWith(parts);
    });
  };

  const decorateAnswer = (bot, turn) => {
    if (bot.querySelector('.rag-retrieval')) return;
    const line = [...bot.querySelectorAll('p')].reverse().find((p) => p.textContent.trim().startsWith('검색:') && p.querySelector('code'));
    if (!line) return;
    const box = document.createElement('div');
    box.className = 'rag-retrieval';
    box.dataset.turn = turn;
    const label = document.createElement('span');
    label.textContent = '검색:';
    const input = document.createElement('input');
    input.type = 'text';
    input.value = line.querySelector('code').textContent;
    input.setAttribute('aria-label', '검색한 텍스트 (고쳐서 다시 물을 수 있음)');
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'rag-reask';
    again.textContent = '다시 묻기';
    box.append(label, input, again);
    line.replaceWith(box);
    const bar = document.createElement('div');
    bar.className = 'rag-fb';
    bar.dataset.turn = turn;
    bar.innerHTML = '<button type="button" data-rating="helpful">도움됐어요</button>' +
                    '<button type="button" data-rating="wrong">틀렸어요</button>';
    box.after(bar);
  };

  let answersShown = 0;
  const showNewAnswer = () => {  // a new answer is read from its question down, not from its last line
    const users = document.querySelectorAll('#rag-chat [data-testid="user"]');
    const count = document.querySelectorAll('#rag-chat [data-testid="bot"]').length;
    if (count > answersShown && users.length) {
      const question = users[users.length - 1];
      const box = question.closest('.panel-wrap, .bubble-wrap');
      if (box && box.scrollHeight > box.clientHeight) {
        box.scrollTop += question.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
      } else if (isPhone()) {
        question.scrollIntoView({ block: 'start' });
      }
    }
    answersShown = count;
  };

  const decorate = () => {
    answerRoots().forEach(([root, turn]) => {
      wrapCitations(root, turn);
      if (turn !== 'quiz') decorateAnswer(root, turn);
    });
    showNewAnswer();
    updateCounter();
  };

  const counterFor = () => document.getElementById('rag-counter');
  const inputBox = () => document.querySelector('#rag-input textarea');
  const updateCounter = () => {
    const counter = counterFor(), box = inputBox();
    if (!counter || !box) return false;
    const limit = Number(counter.dataset.limit), n = box.value.length;
    const over = n > limit;
    counter.classList.toggle('rag-over', over);
    counter.textContent = n.toLocaleString() + ' / ' + limit.toLocaleString() + '자' +
      (over ? ' — 너무 깁니다. ' + limit.toLocaleString() + '자 이하로 줄여야 보낼 수 있습니다 (too long to send)' : '');
    return over;
  };
  document.addEventListener('input', (e) => { if (e.target === inputBox()) updateCounter(); }, true);
  document.addEventListener('keydown', (e) => {
    if (e.target === inputBox() && e.key === 'Enter' && !e.shiftKey && updateCounter()) {
      e.preventDefault(); e.stopImmediatePropagation();
    }
    if (e.key === 'Escape') closeSheet();
    const edit = e.target.closest && e.target.closest('.rag-retrieval input');
    if (edit && e.key === 'Enter') { e.preventDefault(); reask(edit.closest('.rag-retrieval')); }
  }, true);

  const reask = (box) => {
    const text = box.querySelector('input').value.trim();
    if (text) send('submit', { turn: Number(box.dataset.turn), text });
  };

  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; decorate(); });
  }).observe(document.body, { childList: true, subtree: true, characterData: true });

  const sourceOf = (cite) => document.getElementById('rag-src-' + cite.dataset.turn + '-' + cite.dataset.n);

  // ---- popover (desktop) and bottom sheet (phone) ----
  let popover = null;
  const hidePopover = () => { if (popover) { popover.remove(); popover = null; } };
  document.addEventListener('mouseover', (e) => {
    const cite = e.target.closest && e.target.closest('.rag-cite');
    if (!cite || isPhone() || !window.matchMedia('(hover: hover)').matches) return;
    const source = sourceOf(cite);
    if (!source) return;
    hidePopover();
    popover = document.createElement('div');
    popover.id = 'rag-popover';
    const path = document.createElement('div');
    path.className = 'rag-pop-path';
    path.textContent = source.querySelector('summary').textContent;
    const marks = [...source.querySelectorAll('mark')].map((m) => m.textContent);
    const body = document.createElement('div');
    body.textContent = marks.length ? marks.join(' … ') : '(이 출처에서 인용한 문장을 표시할 수 없습니다)';
    popover.append(path, body);
    document.body.appendChild(popover);
    const r = cite.getBoundingClientRect();
    const top = r.bottom + 6 + popover.offsetHeight > window.innerHeight ? r.top - popover.offsetHeight - 6 : r.bottom + 6;
    popover.style.top = Math.max(4, top) + 'px';
    popover.style.left = Math.max(4, Math.min(r.left, window.innerWidth - popover.offsetWidth - 8)) + 'px';
  });
  document.addEventListener('mouseout', (e) => {
    if (e.target.closest && e.target.closest('.rag-cite')) hidePopover();
  });

  let sheet = null;
  const closeSheet = () => {
    if (!sheet) return;
    const { box, backdrop, cite, scrollX, scrollY, scrollers } = sheet;
    box.remove(); backdrop.remove();
    sheet = null;
    scrollers.forEach(([el, top]) => { el.scrollTop = top; });
    window.scrollTo(scrollX, scrollY);
    if (cite && cite.isConnected) cite.focus({ preventScroll: true });
  };
  const scrollableAncestors = (el) => {
    const out = [];
    for (let node = el && el.parentElement; node; node = node.parentElement) {
      if (node.scrollHeight > node.clientHeight) out.push([node, node.scrollTop]);
    }
    return out;
  };
  const openSheet = (cite, source) => {
    closeSheet();
    const backdrop = document.createElement('div');
    backdrop.id = 'rag-sheet-backdrop';
    const box = document.createElement('div');
    box.id = 'rag-sheet';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', '출처 ' + cite.textContent);
    const header = document.createElement('header');
    const path = document.createElement('span');
    path.className = 'rag-path';
    path.textContent = source.querySelector('summary').textContent;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'rag-sheet-close';
    close.textContent = '✕ 닫기';
    header.append(path, close);
    box.append(header, source.querySelector('.rag-lines').cloneNode(true));
    const open = source.querySelector('.rag-open-note');
    if (open) box.append(open.cloneNode(true));
    sheet = { box, backdrop, cite, scrollX: window.scrollX, scrollY: window.scrollY, scrollers: scrollableAncestors(cite) };
    document.body.append(backdrop, box);
    close.focus({ preventScroll: true });
    const first = box.querySelector('.rag-cited');
    if (first) first.scrollIntoView({ block: 'nearest' });
  };

  // ---- the notes browser ----
  const notesTab = () => [...document.querySelectorAll('button[role="tab"]')].find((b) => b.textContent.trim() === '노트');
  const lineSelector = (file, line) => '#rag-notes-view .rag-nl[data-file="' + CSS.escape(file) + '"][data-line="' + line + '"]';
  const openNote = (file, start, end) => {
    closeSheet();
    hidePopover();
    const tab = notesTab();
    if (tab && tab.getAttribute('aria-selected') !== 'true') tab.click();
    const began = Date.now();
    const attempt = () => {
      const first = document.querySelector(lineSelector(file, start));
      if (!first) {
        if (Date.now() - began < 20000) setTimeout(attempt, 100);
        return;
      }
      document.querySelectorAll('.rag-note-hit').forEach((el) => el.classList.remove('rag-note-hit'));
      for (let line = start; line <= end; line++) {
        const el = document.querySelector(lineSelector(file, line));
        if (el) el.classList.add('rag-note-hit');
      }
      first.scrollIntoView({ block: 'center' });
    };
    attempt();
  };

  document.addEventListener('click', (event) => {
    const target = event.target;
    if (!target.closest) return;
    const note = target.closest('.rag-open-note, .rag-toc-link');
    if (note) {
      event.preventDefault();
      const start = Number(note.dataset.start || note.dataset.line);
      openNote(note.dataset.file, start, Number(note.dataset.end || start));
      return;
    }
    if (target.closest('.rag-sheet-close') || target.id === 'rag-sheet-backdrop') { closeSheet(); return; }
    const again = target.closest('.rag-reask');
    if (again) { reask(again.closest('.rag-retrieval')); return; }
    const rate = target.closest('.rag-fb button[data-rating]');
    if (rate) {
      const bar = rate.closest('.rag-fb');
      bar.querySelectorAll('button[data-rating]').forEach((b) => b.classList.toggle('rag-picked', b === rate));
      bar.dataset.rating = rate.dataset.rating;
      if (!bar.querySelector('textarea')) {
        const comment = document.createElement('textarea');
        comment.placeholder = '의견 (선택) — 무엇이 틀렸거나 도움이 됐는지';
        const save = document.createElement('button');
        save.type = 'button';
        save.className = 'rag-fb-send';
        save.textContent = '보내기';
        bar.append(comment, save);
        comment.focus();
      }
      return;
    }
    const sendFeedback = target.closest('.rag-fb-send');
    if (sendFeedback) {
      const bar = sendFeedback.closest('.rag-fb');
      send('click', { turn: Number(bar.dataset.turn), rating: bar.dataset.rating, comment: bar.querySelector('textarea').value });
      const label = bar.querySelector('button.rag-picked').textContent;
      bar.innerHTML = '';
      const done = document.createElement('span');
      done.className = 'rag-fb-done';
      done.textContent = '✓ 피드백을 남겼습니다: ' + label;
      bar.append(done);
      return;
    }
    if (target.closest('#rag-send') && updateCounter()) {
      event.preventDefault(); event.stopImmediatePropagation();
      return;
    }
    const cite = target.closest('.rag-cite');
    if (!cite) return;
    event.preventDefault();
    event.stopPropagation();
    const source = sourceOf(cite);
    if (!source) return;
    if (cite.classList.contains('rag-cite-src')) {
      const open = source.querySelector('.rag-open-note');
      openNote(open.dataset.file, Number(open.dataset.start), Number(open.dataset.end));
      return;
    }
    hidePopover();
    if (isPhone()) { openSheet(cite, source); return; }
    source.open = true;
    source.scrollIntoView({ block: 'nearest' });
    source.classList.remove('rag-flash');
    void source.offsetWidth;
    source.classList.add('rag-flash');
  }, true);
}
""".replace("__CSS__", json.dumps(CSS)).replace("__PHONE__", str(PHONE))
