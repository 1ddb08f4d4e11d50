#!/usr/bin/env bash
# The README's first command: set up .venv (pinned), then run the end-to-end demo on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec "${WBSR_VENV:-.venv}/bin/python" scripts/demo.py "$@"
