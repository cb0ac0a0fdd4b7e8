"""Quick checker for gold drafts: python3 check.py PART"""
import json, re, sys, unicodedata
notes = open('/work/shared/seeds/000_94d966e8cc8e684a.txt', encoding='utf-8').read()
body = "\n".join(notes.splitlines()[20:])
norm = lambda s: unicodedata.normalize('NFC', s.replace('\\', '').replace('**', '').strip())
heads = set()
for line in notes.splitlines()[20:]:
    m = re.match(r'^(#{1,3})\s+(.*)$', line)
    if m: heads.add(norm(m.group(2)))
    elif re.fullmatch(r'\*\*[^*].*\*\*', line.strip()): heads.add(norm(line.strip()))
part = sys.argv[1]
errs = 0; kinds = {}
for i, line in enumerate(open(f'/work/main/eval/gold/_draft/{part}.jsonl', encoding='utf-8'), 1):
    if not line.strip(): continue
    try: o = json.loads(line)
    except Exception as e: print(f'L{i}: bad json {e}'); errs += 1; continue
    k = o['id'].split('-')[1]; kinds[k] = kinds.get(k, 0) + 1
    def bad(msg):
        global errs; errs += 1; print(f"L{i} {o.get('id')}: {msg}")
    if k == 'oos':
        if set(o) != {'id','question','note'}: bad('oos fields')
        continue
    for h in o.get('gold_headings', []):
        if norm(h) not in heads: bad(f'unknown heading {h!r}')
    if not o.get('gold_headings'): bad('no gold_headings')
    ev = o.get('evidence_ko', '')
    if not ev or ev not in body: bad(f'evidence not verbatim: {ev[:60]!r}')
    for t in o.get('key_terms', []):
        if t not in body: bad(f'key term not in notes: {t!r}')
    if k == 'mcq':
        if set(o['options']) != set('ABCD') or o['answer'] not in o['options']: bad('options/answer')
    if k == 'ver':
        if o['is_correct'] is False and (not o['wrong_span'] or o['wrong_span'] not in o['statement']): bad('wrong_span not in statement')
        if o['is_correct'] is True and (o['wrong_span'] is not None): bad('correct stmt has wrong_span')
print(kinds); print('OK' if errs == 0 else f'{errs} errors')
