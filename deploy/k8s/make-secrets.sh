#!/bin/sh
# Prints the Secrets of the Kubernetes deployment (deploy/k8s/base), with new random
# passwords for the NATS users and a new JWT secret. Postgres and Redis are yours: give
# their URLs (the Postgres role as deploy/postgres/init-navimpact.sh makes it).
#
#   DATABASE_URL=postgres://navimpact:<pw>@db.internal:5432/navimpact \
#   REDIS_URL=redis://:<pw>@redis.internal:6379 \
#     sh deploy/k8s/make-secrets.sh > navimpact-secrets.yaml    # keep it safe, never commit it
#   kubectl apply -n navimpact -f navimpact-secrets.yaml
#
# Secrets: navimpact-service (the service's URLs and JWT secret, mounted as files and read
# through <VAR>_FILE), nats-passwords (nats-server's environment, for accounts.conf), and
# scraper-<source> (one scraper's own NATS password). Needs openssl.
set -eu
: "${DATABASE_URL:?set DATABASE_URL to the service role's Postgres URL}"
: "${REDIS_URL:?set REDIS_URL to the Redis URL, with its password}"
NATS_HOST="${NATS_HOST:-nats}"

random() { openssl rand -hex 32; }
# nats-server reads each `$VARIABLE` of accounts.conf as a config value: one that starts with
# a digit is parsed as a number and the server refuses to start. NATS passwords start with a letter.
nats_random() { printf 'n%s' "$(openssl rand -hex 32)"; }
# A YAML single-quoted scalar.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

service_password="$(nats_random)"
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: navimpact-service
  labels: { app.kubernetes.io/name: navimpact-live }
type: Opaque
stringData:
  DATABASE_URL: $(q "$DATABASE_URL")
  REDIS_URL: $(q "$REDIS_URL")
  NATS_URL: $(q "nats://navimpact:$service_password@$NATS_HOST:4222")
  JWT_SECRET: $(q "$(openssl rand -hex 48)")
YAML

scrapers=""
for source in grantconnect vic-gov-au; do
  password="$(nats_random)"
  variable="SCRAPER_$(printf '%s' "$source" | tr 'a-z-' 'A-Z_')_NATS_PASSWORD"
  scrapers="$scrapers
  $variable: $(q "$password")"
  cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: scraper-$source
  labels: { app.kubernetes.io/name: navimpact-live, app.kubernetes.io/component: scraper }
type: Opaque
stringData:
  NATS_PASSWORD: $(q "$password")
YAML
done

cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: nats-passwords
  labels: { app.kubernetes.io/name: navimpact-live, app.kubernetes.io/component: nats }
type: Opaque
stringData:
  NAVIMPACT_NATS_PASSWORD: $(q "$service_password")$scrapers
YAML
