#!/usr/bin/env bash
# Postgres, Redis and NATS for development and tests: `up` | `down` | `status` | `install`.
#
# For each service the host and port come from DATABASE_URL, REDIS_URL and NATS_URL (the
# service's own defaults otherwise). A port that already answers is left alone, whoever
# runs it. Where nothing answers on a local address, the Debian package is installed if its
# binary is missing and a server is started on that port with its data under `.data/` in
# the project (gitignored); `down` stops only the servers this script started, found by
# the pid and state files in `.data/run/`, whatever the URLs say now. `install` only makes
# sure the server binaries are present (tests start private servers of their own).
#
# One line per service; the exit status is non-zero when any service failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$ROOT/.data"
RUN="$DATA/run"
WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-30}

DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/navimpact}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}

failed=0
apt_updated=0

say() { printf '%-9s %s\n' "$1" "$2"; }

# Sets HOST and PORT from a URL (the first of a comma list), e.g.
# postgres://user:pw@[::1]:5433/db?x=y -> ::1 5433.
parse_url() {
  local url=${1%%,*} default_port=$2 rest
  rest=${url#*://}
  rest=${rest%%[/?#]*}
  rest=${rest##*@}
  if [[ $rest =~ ^\[([^]]+)\](:([0-9]+))?$ ]]; then
    HOST=${BASH_REMATCH[1]} PORT=${BASH_REMATCH[3]:-$default_port}
  elif [[ $rest =~ ^([^:]*)(:([0-9]+))?$ ]]; then
    HOST=${BASH_REMATCH[1]:-127.0.0.1} PORT=${BASH_REMATCH[3]:-$default_port}
  else
    HOST=$rest PORT=$default_port
  fi
}

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

# The address a server started here listens on: loopback, of the URL's family.
bind_of() { if [[ $1 == ::1 ]]; then echo ::1; else echo 127.0.0.1; fi; }

answers() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

wait_for() {
  local host=$1 port=$2 i
  for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
    answers "$host" "$port" && return 0
    sleep 0.2
  done
  return 1
}

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { echo "apt-get not found: install $1 by hand" >&2; return 1; }
  if [[ $apt_updated -eq 0 ]]; then
    as_root apt-get update -qq >&2
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2
}

find_bin() {
  local dir
  command -v "$1" 2>/dev/null && return 0
  for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
    [[ -x $dir/$1 ]] && { echo "$dir/$1"; return 0; }
  done
  return 1
}

# The newest installed PostgreSQL server's bin dir (Debian: /usr/lib/postgresql/<major>/bin).
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] && echo "$dir"
}

ensure_bin() { # name package lookup-command...
  local name=$1 package=$2
  shift 2
  "$@" >/dev/null && return 0
  echo "$name: installing Debian package $package" >&2
  apt_install "$package" && "$@" >/dev/null
}

# initdb and pg_ctl refuse to run as root.
as_postgres() { if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# pid of a process we started, if it still runs the expected program.
live_pid() { # pidfile program
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# Sets HOST and PORT from URL and tells whether a server must be started there: not when
# the port already answers (also after installing the package, which may start its own), and
# never for an address that is not local (then it fails). Installs the package if needed.
needs_start() {
  local name=$1 url=$2 default_port=$3 package=$4 finder=$5
  parse_url "$url" "$default_port"
  if answers "$HOST" "$PORT"; then say "$name" "$HOST:$PORT already running"; return 1; fi
  if ! is_local "$HOST"; then say "$name" "$HOST:$PORT failed: not reachable, and not a local address to start one on"; failed=1; return 1; fi
  if ! ensure_bin "$name" "$package" $finder; then say "$name" "$HOST:$PORT failed: could not install $package"; failed=1; return 1; fi
  if answers "$HOST" "$PORT"; then say "$name" "$HOST:$PORT already running (started by the package)"; return 1; fi
}

up_postgres() {
  local bin dir opts socket
  needs_start postgres "$DATABASE_URL" 5432 postgresql pg_bin || return 0
  bin=$(pg_bin)
  mkdir -p "$DATA" "$RUN"
  dir="$DATA/postgres-$PORT"
  if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$DATA"; then
    # The cluster runs as user postgres, which cannot reach .data/ here (the project lies
    # under a folder such as /root); keep the cluster in a folder of its own instead.
    dir="/var/tmp/navimpact-pg-$PORT"
  fi
  mkdir -p "$dir"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U root -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      { say postgres "$HOST:$PORT failed: initdb (see $dir/initdb.log)"; failed=1; return; }
  fi
  # The socket goes next to the data unless that path is too long for a Unix socket.
  socket=$dir
  ((${#socket} > 90)) && socket=/tmp
  opts="-p $PORT -c listen_addresses=$(bind_of "$HOST") -k $socket"
  printf '%s\n%s\n' "$bin" "$dir/data" >"$RUN/postgres-$PORT"
  if as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w -t "$WAIT_SECONDS" start >/dev/null &&
    wait_for "$HOST" "$PORT"; then
    say postgres "$HOST:$PORT started (data in $dir)"
  else
    say postgres "$HOST:$PORT failed to start (see $dir/postgres.log)"
    failed=1
  fi
}

up_redis() {
  local bin dir
  needs_start redis "$REDIS_URL" 6379 redis-server "find_bin redis-server" || return 0
  bin=$(find_bin redis-server)
  dir="$DATA/redis-$PORT"
  mkdir -p "$dir" "$RUN"
  if "$bin" --daemonize yes --bind "$(bind_of "$HOST")" --port "$PORT" --dir "$dir" --save "" --appendonly no \
    --pidfile "$RUN/redis-$PORT.pid" --logfile "$dir/redis.log" && wait_for "$HOST" "$PORT"; then
    say redis "$HOST:$PORT started (log in $dir/redis.log)"
  else
    say redis "$HOST:$PORT failed to start (see $dir/redis.log)"
    failed=1
  fi
}

up_nats() {
  local bin dir
  needs_start nats "$NATS_URL" 4222 nats-server "find_bin nats-server" || return 0
  bin=$(find_bin nats-server)
  dir="$DATA/nats-$PORT"
  mkdir -p "$dir" "$RUN"
  # setsid: the server outlives this script and the terminal or CI step that ran it.
  setsid "$bin" -js -a "$(bind_of "$HOST")" -p "$PORT" -sd "$dir" -l "$dir/nats.log" -P "$RUN/nats-$PORT.pid" \
    </dev/null >>"$dir/nats.log" 2>&1 &
  if wait_for "$HOST" "$PORT"; then
    say nats "$HOST:$PORT started (JetStream store in $dir)"
  else
    say nats "$HOST:$PORT failed to start (see $dir/nats.log)"
    failed=1
  fi
}

stop_pid() {
  local i
  kill "$1" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

down_all() {
  local file port pid bin data any=0
  shopt -s nullglob
  for file in "$RUN"/postgres-*; do
    any=1
    port=${file##*-}
    { read -r bin && read -r data; } <"$file" || true
    if [[ -f $data/postmaster.pid ]] && as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1; then
      say postgres "port $port stopped"
    else
      say postgres "port $port was not running"
    fi
    rm -f "$file"
  done
  for file in "$RUN"/redis-*.pid "$RUN"/nats-*.pid; do
    any=1
    local base=${file##*/}
    local service=${base%%-*}
    port=${base#*-}
    port=${port%.pid}
    if pid=$(live_pid "$file" "${service}-server"); then
      if stop_pid "$pid"; then
        say "$service" "port $port stopped"
      else
        say "$service" "port $port failed to stop (pid $pid)"
        failed=1
        continue
      fi
    else
      say "$service" "port $port was not running"
    fi
    rm -f "$file"
  done
  [[ $any -eq 1 ]] || echo "nothing started by scripts/services.sh is recorded in $RUN"
}

status_one() { # service url default-port pidfile-or-statefile
  parse_url "$2" "$3"
  local mine=""
  [[ -f $RUN/$1-$PORT || -f $RUN/$1-$PORT.pid ]] && mine=" (started by scripts/services.sh)"
  if answers "$HOST" "$PORT"; then say "$1" "$HOST:$PORT running$mine"; else say "$1" "$HOST:$PORT not running"; failed=1; fi
}

case "${1:-}" in
  up)
    up_postgres
    up_redis
    up_nats
    ;;
  down)
    down_all
    ;;
  status)
    status_one postgres "$DATABASE_URL" 5432
    status_one redis "$REDIS_URL" 6379
    status_one nats "$NATS_URL" 4222
    ;;
  install)
    ensure_bin postgres postgresql pg_bin || failed=1
    ensure_bin redis redis-server find_bin redis-server || failed=1
    ensure_bin nats nats-server find_bin nats-server || failed=1
    ;;
  *)
    echo "usage: scripts/services.sh up|down|status|install" >&2
    exit 64
    ;;
esac
exit "$failed"
