#!/usr/bin/env bash
# Install what the client tests need and run both suites against the real host.
#   - the host binary: $DISPATCHER_BIN, else target/debug/dispatcher (cargo build -p dispatcher if missing)
#   - Python: a venv in clients/python/.venv with the package installed editable, plus pytest
#   - Perl: Debian's libjson-perl and libwww-perl
# Exits non-zero when either suite fails.
set -uo pipefail

CLIENTS="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$CLIENTS")"

if [ -z "${DISPATCHER_BIN:-}" ]; then
    if [ ! -x "$REPO/target/debug/dispatcher" ]; then
        (cd "$REPO" && cargo build -p dispatcher) || { echo "test.sh: building the host failed" >&2; exit 1; }
    fi
    export DISPATCHER_BIN="$REPO/target/debug/dispatcher"
fi

if ! perl -MJSON -MLWP::UserAgent -e1 2>/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q && $SUDO apt-get install -y -q libjson-perl libwww-perl \
        || { echo "test.sh: installing the Perl dependencies failed" >&2; exit 1; }
fi

VENV="$CLIENTS/python/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { echo "test.sh: creating the venv failed" >&2; exit 1; }
fi
"$VENV/bin/pip" install -q -e "$CLIENTS/python[test]" || { echo "test.sh: pip install failed" >&2; exit 1; }

status=0
echo "== Python client (pytest)"
(cd "$CLIENTS/python" && "$VENV/bin/python" -m pytest -q -rs tests) || status=1
echo "== Perl client (prove)"
(cd "$CLIENTS/perl" && prove -l t/) || status=1
exit $status
