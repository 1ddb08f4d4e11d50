#!/usr/bin/env bash
# Create the virtual environment with the pinned dependency set; skips work already done.
#   WBSR_VENV: where to create it (default: .venv in the repository root)
#   PYTHON:    the interpreter to build it from (default: python3; 3.11 is what requirements.txt pins)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${WBSR_VENV:-.venv}
python=${PYTHON:-python3}
stamp="$venv/.wbsr-requirements"
basicsr_pin='basicsr==1.4.2'

# The stamp holds what was installed: the pinned requirements and the package's own setup.py.
if [ -f "$stamp" ] && cat requirements.txt setup.py | cmp -s - "$stamp" && "$venv/bin/python" -c 'import wbsr_basicsr' 2>/dev/null; then
    exit 0
fi
echo "[setup] creating $venv with the pinned requirements (first run downloads torch, about 5 GB)"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade 'pip==26.3' 'setuptools==84.2.1' 'wheel==0.48.0'
"$venv/bin/pip" install --quiet -r requirements.txt
# basicsr's setup.py imports torch: build it against the torch installed above, not a fresh one.
"$venv/bin/pip" install --quiet --no-build-isolation --no-deps "$basicsr_pin"
"$venv/bin/pip" install --quiet --no-build-isolation --no-deps -e .
"$venv/bin/python" -c 'import torchvision.ops, wbsr_basicsr; print("[setup] ok: torch", __import__("torch").__version__)'
cat requirements.txt setup.py > "$stamp"
