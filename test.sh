#!/usr/bin/env bash
# One command on a fresh machine: install everything the tests need, then run them.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null
fi
if [ ! -x .venv/bin/pytest ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet torch==2.13.0   # the CPU build on this disk; must come before sentence-transformers
  .venv/bin/pip install --quiet -e ".[test]"
fi
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
