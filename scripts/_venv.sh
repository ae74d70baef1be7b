# Sourced by the other scripts: make .venv with exactly the versions of a lock file
# (requirements/<name>.txt, hashes checked) and the project itself, once per change of
# the lock, and put .venv first on PATH. The argument names the lock: deploy or test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PORTAL_VENV:-$ROOT/.venv}"
LOCK="$ROOT/requirements/${1:-deploy}.txt"
STAMP="$VENV/.installed-${1:-deploy}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$LOCK" -nt "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$LOCK"
  # The project itself, editable; its build backend (hatchling) comes from the lock too.
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
  "$VENV/bin/python" -m pip check >/dev/null  # the lock holds every dependency
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
