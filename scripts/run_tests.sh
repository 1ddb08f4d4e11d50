#!/usr/bin/env bash
# Set up the pinned environment if needed, then run the whole test suite on the CPU.
# Extra arguments go to pytest (e.g. -k supernet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec "${WBSR_VENV:-.venv}/bin/python" -m pytest tests "$@"
