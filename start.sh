#!/usr/bin/env bash
# One command on a fresh machine: install, then serve the study page on http://127.0.0.1:7860.
# On first start the page opens at once and shows a notice while the notes in corpus/ are indexed
# (progress in this terminal).
#   ./start.sh                 → http://127.0.0.1:7860
#   ./start.sh --port 8000     (any `rag serve` flag)
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/rag ] || ! .venv/bin/python -c "import wordfreq" 2>/dev/null; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
exec .venv/bin/rag serve "$@"
