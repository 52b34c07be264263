#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it:
# the virtual environment with the project and its test tools, the lint and type
# checks, and the whole pytest suite. Arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy

bash scripts/docker.sh setup
bash scripts/browser.sh setup
echo "== pytest"
exec .venv/bin/pytest "$@"
