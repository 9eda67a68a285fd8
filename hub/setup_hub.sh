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
#     as nbgrader documents it, and the course's folders in it owned by root and the group
#     rnn-instructors (so that every instructor releases, collects and returns; the instructors'
#     nbgrader runs with CourseDirectory.groupshared): <course id>/ and outbound/ 2775,
#     inbound/ 3773 (students write but cannot list it, and the sticky bit forbids renaming or
#     deleting another's submission), feedback/ 2771 (a student reads only the files whose
#     hashed names they know);
#     the exchange is a file system of its own, of a fixed size (RNNCOURSE_HUB_EXCHANGE_SIZE,
#     default 4G, in a loop-mounted image beside it), so that no student can fill the disk with it;
#  3. the course's Python usable by every user: the folders above .venv/ and above the Python
#     the venv was made from get o+x (traverse only, no listing) where they lack it (e.g. /root
#     when Python comes from pyenv under /root; on a server, install Python outside /root);
#  4. nothing of the course that a student could learn an answer from is readable by students:
#     in the repository (where .venv/ and lib/ are) and in the course root, every entry is closed
#     to others (group rnn-instructors may read it) except what the servers need: .venv/,
#     lib/rnnkit/, hub/jupyter/ and lessons/. So .git/, tests/, lib/tests/, solutions/,
#     autograder/ (gradebook, submissions), hub/runtime/ and the rest are closed; the two roots
#     can be entered but not listed. autograder/, solutions/ and lessons/ belong to the group
#     rnn-instructors, group-writable, new files keep the group (setgid folders); lessons/ has a
#     default ACL (setfacl, from Debian's acl when missing) that keeps what an instructor's
#     release writes readable by all, whatever their umask;
#  5. /proc with hidepid=invisible: users see only their own processes;
#  6. configurable-http-proxy from npm (pinned in hub/package.json / package-lock.json) into
#     hub/node_modules/ when missing.
#  Run it again after adding files to the repository (make hub does): new top-level entries are
#  closed then.
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

no_link () {            # no_link PATH...: refuse (exit 1) when one is a symbolic link: root's
  local p                 # chmod/chown would follow it to whatever an instructor pointed it at
  for p in "$@"; do
    if [ -L "$p" ]; then
      echo "setup_hub: $p is a symbolic link (to $(readlink "$p")); refusing to change permissions through it. Look at who made it, remove it, and run hub/setup_hub.sh again" >&2
      exit 1
    fi
  done
}

# 1. groups
getent group "$INSTRUCTORS" >/dev/null || groupadd --system "$INSTRUCTORS"
getent group "$STUDENTS" >/dev/null || groupadd --system "$STUDENTS"

# 2. the exchange, and the course's folders in it for the instructors' group
COURSE_ID="${RNNCOURSE_HUB_COURSE_ID:-rnn-course}"
mkdir -p "$EXCHANGE"
# Its space is capped: students write into inbound/, and one of them must not fill the disk that
# the hub, the gradebook and the other homes live on. Unless the exchange is already a mount
# point of its own (a partition the administrator made), it is an ext4 file system in a sparse
# image file of RNNCOURSE_HUB_EXCHANGE_SIZE (default 4G; 0: no cap), mounted over the loop
# device (nosuid, nodev, noexec), again by every make hub. A kernel with quota support also gets
# the file system's quota feature, so that per-student limits can be set (hub/README.md).
SIZE="${RNNCOURSE_HUB_EXCHANGE_SIZE:-4G}"
IMAGE="${RNNCOURSE_HUB_EXCHANGE_IMAGE:-$EXCHANGE.img}"
if [ "$SIZE" != 0 ] && ! mountpoint -q "$EXCHANGE"; then
  no_link "$IMAGE"
  if [ ! -e "$IMAGE" ] && [ -n "$(ls -A "$EXCHANGE")" ]; then
    echo "setup_hub: $EXCHANGE already holds files and is not a file system of its own: its space is NOT capped." \
         "To cap it: stop the hub, move its contents aside, run hub/setup_hub.sh again, move them back" \
         "(or set RNNCOURSE_HUB_EXCHANGE_SIZE=0 to keep it as it is and silence this)" >&2
  else
    opts=loop,nosuid,nodev,noexec
    if [ ! -e "$IMAGE" ]; then
      truncate -s "$SIZE" "$IMAGE" && chmod 600 "$IMAGE"
      # the quota feature only where the kernel can mount it (else mkfs again without)
      if ! { mkfs.ext4 -q -m 0 -O quota -E quotatype=usrquota:grpquota "$IMAGE" 2>/dev/null &&
             mount -o "$opts,usrquota,grpquota" "$IMAGE" "$EXCHANGE" 2>/dev/null; }; then
        mkfs.ext4 -q -F -m 0 "$IMAGE"
      fi
    fi
    quota=""             # an image with the quota feature mounts only where the kernel has quotas
    if dumpe2fs -h "$IMAGE" 2>/dev/null | grep -q '^Filesystem features:.* quota'; then
      opts="$opts,usrquota,grpquota" quota=", per-student quotas possible (setquota)"
    fi
    if mountpoint -q "$EXCHANGE" || mount -o "$opts" "$IMAGE" "$EXCHANGE"; then
      rmdir "$EXCHANGE/lost+found" 2>/dev/null || true
      echo "setup_hub: the exchange is a file system of its own, $(df -h --output=size "$EXCHANGE" | tail -1 | tr -d ' ') ($IMAGE$quota);" \
           "to mount it at boot: echo '$IMAGE $EXCHANGE ext4 $opts 0 2' >> /etc/fstab"
    else
      echo "setup_hub: could not mount $IMAGE on $EXCHANGE (no loop device here?): the exchange's space is NOT capped;" \
           "give it a partition of its own (hub/README.md, 'space')" >&2
    fi
  fi
fi
chown root:root "$EXCHANGE"
chmod 1777 "$EXCHANGE"
d="$(dirname "$EXCHANGE")"
while [ "$d" != / ]; do chmod o+x "$d"; d="$(dirname "$d")"; done
ex="$EXCHANGE/$COURSE_ID"
for sub in "" outbound inbound feedback; do
  no_link "$ex/$sub"
  mkdir -p "$ex/$sub"
  chown root:"$INSTRUCTORS" "$ex/$sub"
done
chmod 2775 "$ex" "$ex/outbound"
chmod 3773 "$ex/inbound"
chmod 2771 "$ex/feedback"
# what an instructor released before this setup: the group's too
for sub in outbound feedback; do
  find "$ex/$sub" -mindepth 1 ! -type l -exec chgrp -h "$INSTRUCTORS" {} + -exec chmod g+rwX {} +
done

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
chmod -R o+rX "$VENV" "$REPO/lib/rnnkit" "$REPO/hub/jupyter"
chmod o+rx "$REPO" "$REPO/lib" "$REPO/hub"   # (step 4 closes their listing again)

# 4. the course root and the repository: closed to students but for what the servers need
for sub in autograder solutions lessons; do
  no_link "$COURSE/$sub"
  mkdir -p "$COURSE/$sub"
  chgrp -R -P -h "$INSTRUCTORS" "$COURSE/$sub"
  find "$COURSE/$sub" ! -type l -exec chmod g+rwX {} +
  find "$COURSE/$sub" -type d -exec chmod g+s {} +
done
# what root's make hub runs or installs from autograder/ (make venv: open_feedback_link.py, the
# MathJax template) stays root's, readable by the group but not writable: an instructor's change
# there would otherwise run as root at the next make hub
for f in "$REPO/autograder/open_feedback_link.py" "$REPO/autograder/templates"; do
  if [ -e "$f" ]; then no_link "$f"; chown -R -h root:"$INSTRUCTORS" "$f"; chmod -R g-w,o-w "$f"; fi
done
# the gradebook: sqlite makes a new database 0644 & ~umask, which another instructor could not
# write; an empty file of the group's, 0660, becomes the database at the first release
db="$COURSE/autograder/gradebook.db"
no_link "$db"
[ -e "$db" ] || install -m 0660 -o root -g "$INSTRUCTORS" /dev/null "$db"
chmod g+rw "$db"
close_except () {       # close_except DIR KEEP...: DIR enterable, not listable, by others; each
  local dir="$1" e name keep; shift   # entry but the KEEPs readable by the instructors' group only
  chgrp "$INSTRUCTORS" "$dir"
  chmod g+rx,o-rw,o+x "$dir"
  for e in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    name="$(basename "$e")"
    for keep in "$@"; do [ "$name" = "$keep" ] && continue 2; done
    chgrp -R -P -h "$INSTRUCTORS" "$e"
    find "$e" ! -type l -exec chmod g+rX,o-rwx {} + 2>/dev/null || true
  done
}
close_except "$COURSE" lessons $([ "$COURSE" = "$REPO" ] && echo .venv lib hub)
if [ "$COURSE" != "$REPO" ]; then close_except "$REPO" .venv lib hub lessons; fi
close_except "$REPO/lib" rnnkit
close_except "$REPO/hub" jupyter
chmod -R o+rX "$COURSE/lessons"
# lessons/: what a release writes stays readable by all (nbgrader makes its folders with the
# writer's umask: 007 on the hub)
if ! command -v setfacl >/dev/null; then
  apt-get install -y -qq acl >/dev/null 2>&1 || \
    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq acl >/dev/null 2>&1) || true
fi
if command -v setfacl >/dev/null; then
  find "$COURSE/lessons" -type d -exec setfacl -m d:u::rwx,d:g::rwx,d:o::rx {} +
else
  echo "setup_hub: no setfacl (Debian: apt-get install acl): after each release run" \
       "'chmod -R o+rX $COURSE/lessons' so that students can read the lessons" >&2
fi

# the servers still run the course's Python and import rnnkit
if ! runuser -u nobody -- "$VENV/bin/python" -c 'import jupyterhub, nbgrader, rnnkit' 2>/dev/null; then
  echo "setup_hub: an unprivileged user cannot run $VENV/bin/python (base Python: $BASE_PREFIX);" \
       "make it readable by all users (chmod -R o+rX $BASE_PREFIX)" >&2
  exit 1
fi

# 5. processes: a user sees only their own in /proc (hidepid=invisible), so a student cannot read
# another's command lines (kernel connection files, notebook paths) or even that they run.
# Root sees all; the hub runs as root. Not kept at reboot: make hub does it again, or add
# 'proc /proc proc defaults,hidepid=invisible 0 0' to /etc/fstab.
if ! grep -qE '^proc /proc proc .*hidepid=(2|invisible)' /proc/mounts; then
  if mount -o remount,hidepid=invisible /proc 2>/dev/null; then
    echo "setup_hub: /proc remounted with hidepid=invisible (users see only their own processes)"
  else
    echo "setup_hub: could not remount /proc with hidepid=invisible (a container without that right?):" \
         "students can see each other's processes and their command lines" >&2
  fi
fi

# 6. the proxy
if [ ! -x "$HUB/node_modules/.bin/configurable-http-proxy" ] || [ "$HUB/package-lock.json" -nt "$HUB/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || { apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
    (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq nodejs npm >/dev/null 2>&1); }
  (cd "$HUB" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup_hub: exchange $EXCHANGE (1777; $COURSE_ID/ group $INSTRUCTORS), course root $COURSE (group $INSTRUCTORS, closed to students but lessons/), proxy $("$HUB/node_modules/.bin/configurable-http-proxy" --version)"
