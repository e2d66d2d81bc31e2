#!/bin/sh
# Exports every Docker secret whose name is an environment variable name
# (/run/secrets/NAVIMPACT_NATS_PASSWORD -> $NAVIMPACT_NATS_PASSWORD), then runs the command.
# For third-party servers that take secrets only from their environment (nats-server's
# `$VAR` in deploy/nats/accounts.conf); the service itself reads `<VAR>_FILE`.
# SECRETS_DIR names another folder (tests).
set -eu
for file in "${SECRETS_DIR:-/run/secrets}"/*; do
  [ -f "$file" ] || continue
  name=$(basename "$file")
  case "$name" in
    *[!A-Z0-9_]* | [0-9]*) continue ;;
  esac
  value=$(cat "$file")
  export "$name=$value"
done
exec "$@"
