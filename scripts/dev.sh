#!/usr/bin/env bash
# Runs the service for development: Postgres, Redis and NATS brought up where none answers
# (scripts/services.sh), dependencies installed when the lock file changed, a development
# JWT_SECRET kept in .data/dev.env (made once), then `npm start` with every role.
# `bash scripts/services.sh down` stops the servers this started.
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

exec npm start
