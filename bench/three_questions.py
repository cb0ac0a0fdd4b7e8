"""Answer three real questions (none of them gold) and write the answers as JSON, for docs/answers_before_after.md.

    .venv/bin/python bench/three_questions.py OUT.json

Run it in two checkouts (with PYTHONPATH pointing at each) to compare composers.
"""
import json, sys
from rag.engine import Assistant
from rag.settings import load_settings
A = Assistant(load_settings(), log=lambda m: None)
A.ensure_index()
out = {}
out["sticky"] = A.ask("ELB의 Sticky Session은 어떻게 동작해?").answer_markdown
out["compare"] = A.ask("What is the difference between a spread and a partition placement group?").answer_markdown
first = A.ask("ELB의 Sticky Session은 어떻게 동작해?")
try:
    from rag.conversation import turn_of
    second = A.ask("그럼 비용은?", history=[turn_of(first)])
except ImportError:
    from rag.conversation import Turn, context_for
    topic = first.citations[0].chunk.heading_path[-1] if first.citations and not first.abstained else ""
    second = A.ask("그럼 비용은?", context=context_for("그럼 비용은?", [Turn(first.question, topic)]))
out["followup"] = second.answer_markdown
json.dump(out, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
