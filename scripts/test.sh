#!/usr/bin/env bash
# Install what the tests need into .venv (idempotent), then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev]"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check routet2i tests scripts
ruff format --check routet2i tests scripts
mypy
lint-imports
python -m pytest -q -p no:cacheprovider "$@"
