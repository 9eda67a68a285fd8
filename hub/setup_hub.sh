#!/usr/bin/env bash
# Root-side setup of the course's JupyterHub (make hub runs it; running it again is harmless).
#
#   hub/setup_hub.sh [COURSE_ROOT]
#
# COURSE_ROOT (default: this repository) is the nbgrader course root the instructors grade in.
# Environment: RNNCOURSE_HUB_EXCHANGE (default /srv/nbgrader/exchange),
#              RNNCOURSE_HUB_INSTRUCTORS / RNNCOURSE_HUB_STUDENTS (groups: rnn-instructors, rnn-students).
#
# What it does:
#  1. the groups rnn-instructors and rnn-students;
#  2. nbgrader's exchange: the directory world-writable with the sticky bit (1777, owned by root),
#     as nbgrader documents it (nbgrader then makes <exchange>/rnn-course/ itself at the first
#     release: outbound/ 0755, inbound/ 2733 so that students can write but not list it, and
#     feedback/ 0711 so that a student reads only the files whose hashed names they know);
#  3. the course's Python usable by every user: the folders above .venv/ and above the Python
#     the venv was made from get o+x (traverse only, no listing) where they lack it (e.g. /root
#     when Python comes from pyenv under /root; on a server, install Python outside /root);
#  4. the course root: autograder/, solutions/ and lessons/ owned by group rnn-instructors,
#     group-writable, new files keep the group (setgid folders); autograder/ (gradebook,
#     submissions, grades) and solutions/ closed to everybody else; lessons/, lib/, .venv/ readable;
#  5. configurable-http-proxy from npm (pinned in hub/package.json / package-lock.json) into
#     hub/node_modules/ when missing.
set -euo pipefail

HUB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HUB")"
COURSE="$(realpath "${1:-$REPO}")"
EXCHANGE="${RNNCOURSE_HUB_EXCHANGE:-/srv/nbgrader/exchange}"
INSTRUCTORS="${RNNCOURSE_HUB_INSTRUCTORS:-rnn-instructors}"
STUDENTS="${RNNCOURSE_HUB_STUDENTS:-rnn-students}"
VENV="$REPO/.venv"

[ "$(id -u)" = 0 ] || { echo "hub/setup_hub.sh must run as root (it creates groups and the exchange)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { echo "no $VENV: run 'make venv' first" >&2; exit 1; }

# 1. groups
getent group "$INSTRUCTORS" >/dev/null || groupadd --system "$INSTRUCTORS"
getent group "$STUDENTS" >/dev/null || groupadd --system "$STUDENTS"

# 2. the exchange
mkdir -p "$EXCHANGE"
chown root:root "$EXCHANGE"
chmod 1777 "$EXCHANGE"
d="$(dirname "$EXCHANGE")"
while [ "$d" != / ]; do chmod o+x "$d"; d="$(dirname "$d")"; done

# 3. the course's Python for everybody: o+x on every folder above .venv and the base Python
traverse () {           # o+x on each ancestor of $1 that lacks it
  local p="$1"
  while [ "$p" != / ]; do
    p="$(dirname "$p")"
    if [ -d "$p" ] && [ "$(( 0$(stat -c %a "$p") & 01 ))" = 0 ]; then
      chmod o+x "$p"
      echo "setup_hub: gave o+x (traverse, no listing) to $p so that course users reach the course's Python"
    fi
  done
}
BASE_PY="$(readlink -f "$VENV/bin/python")"
BASE_PREFIX="$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix)')"
traverse "$VENV"
traverse "$BASE_PY"
traverse "$COURSE/lessons"
chmod -R o+rX "$VENV" "$REPO/lib" "$REPO/hub/jupyter"
if ! runuser -u nobody -- "$VENV/bin/python" -c 'import jupyterhub, nbgrader, rnnkit' 2>/dev/null; then
  echo "setup_hub: an unprivileged user cannot run $VENV/bin/python (base Python: $BASE_PREFIX);" \
       "make it readable by all users (chmod -R o+rX $BASE_PREFIX)" >&2
  exit 1
fi

# 4. the course root
for sub in autograder solutions lessons; do
  mkdir -p "$COURSE/$sub"
  chgrp -R "$INSTRUCTORS" "$COURSE/$sub"
  chmod -R g+rwX "$COURSE/$sub"
  find "$COURSE/$sub" -type d -exec chmod g+s {} +
done
chmod -R o-rwx "$COURSE/autograder" "$COURSE/solutions"
chmod -R o+rX "$COURSE/lessons"
chmod o+x "$COURSE"

# 5. the proxy
if [ ! -x "$HUB/node_modules/.bin/configurable-http-proxy" ] || [ "$HUB/package-lock.json" -nt "$HUB/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || { apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq nodejs npm >/dev/null 2>&1); }
  (cd "$HUB" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup_hub: exchange $EXCHANGE (1777), course root $COURSE (group $INSTRUCTORS), proxy $("$HUB/node_modules/.bin/configurable-http-proxy" --version)"
