#!/usr/bin/env bash
# Runs the service for development: Postgres, Redis and NATS brought up where none answers
# (scripts/services.sh), dependencies installed when the lock file changed, a development
# JWT_SECRET kept in .data/dev.env (made once), the pages built (`npm run build:web`), the
# addresses of the board and the ops page printed with development tokens, then `npm start`
# with every role. `--demo` also runs `npm run demo` once the service answers (demo grants
# through the real path, then a few changes a second). `bash scripts/services.sh down`
# stops the servers this started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh up

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

if [[ ! -f .data/dev.env ]]; then
  mkdir -p .data
  secret=$(openssl rand -hex 48 2>/dev/null || node -e 'process.stdout.write(require("node:crypto").randomBytes(48).toString("hex"))')
  (umask 077 && printf 'JWT_SECRET=%s\n' "$secret" >.data/dev.env)
fi
# A JWT_SECRET already in the environment wins over the saved one.
if [[ -z ${JWT_SECRET:-} ]]; then
  set -a
  # shellcheck source=/dev/null
  . .data/dev.env
  set +a
fi
export JWT_SECRET

demo=false
for arg in "$@"; do
  case $arg in
    --demo) demo=true ;;
    *) echo "usage: bash scripts/dev.sh [--demo]" >&2; exit 64 ;;
  esac
done

npm run -s build:web

# The pages open /v1/live from the gateway's own origin, which the upgrade's Origin check
# (CONTRACT section 5) must find in CORS_ORIGINS like any other.
address="http://${HOST:-127.0.0.1}:${PORT:-8080}"
export CORS_ORIGINS="${CORS_ORIGINS:+${CORS_ORIGINS},}${address}"

# Development tokens (12 h, within JWT_MAX_TTL): a viewer for the board, a monitor for /ops.
viewer=$(npx tsx src/cli/token.ts --sub dev-viewer --ttl 12h)
monitor=$(npx tsx src/cli/token.ts --sub dev-monitor --role monitor --ttl 12h)
if [[ $demo == true ]]; then demo_line="Demo data: on (npm run demo)"; else demo_line="Demo data: bash scripts/dev.sh --demo, or npm run demo in another terminal"; fi
printf '\n  Live grants board:  %s\n  Operations page:    %s\n  %s\n\n' "${address}/#token=${viewer}" "${address}/ops#token=${monitor}" "$demo_line"

if [[ $demo == true ]]; then
  # Once the service answers (ingest has made stream SCRAPE by then); Ctrl-C stops both.
  (
    for _ in $(seq 1 120); do
      curl -fsS -o /dev/null "${address}/health" 2>/dev/null && break
      sleep 1
    done
    exec npm run -s demo
  ) &
fi

exec npm start
