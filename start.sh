#!/usr/bin/env bash
# One command on a fresh machine: install, index the notes in corpus/, serve the study page.
#   ./start.sh                 → http://127.0.0.1:7860
#   ./start.sh --port 8000     (any `rag serve` flag)
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/rag ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
.venv/bin/rag index
exec .venv/bin/rag serve "$@"
