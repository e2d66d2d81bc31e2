#!/bin/sh
# Creates the service's own Postgres role and database: the role owns the database (and so,
# on Postgres 15, its `public` schema, which belongs to the database owner) and every table
# the migrations create, and is no superuser: it cannot read other databases, create
# roles or databases, or bypass row security. The service runs its migrations as this role.
#
# Run once by the postgres image on an empty data directory (mounted into
# /docker-entrypoint-initdb.d by deploy/compose.production.yml), or by hand against any
# server as a superuser:
#   PGHOST=db.example.org POSTGRES_USER=postgres NAVIMPACT_DB_PASSWORD_FILE=./pw sh deploy/postgres/init-navimpact.sh
#
# NAVIMPACT_DB_NAME and NAVIMPACT_DB_USER (both `navimpact` unless set) name the database
# and the role; the role's password is read from NAVIMPACT_DB_PASSWORD_FILE (a Docker
# secret by default) by psql, and reaches the server only inside the statement that sets it.
set -eu
db="${NAVIMPACT_DB_NAME:-navimpact}"
user="${NAVIMPACT_DB_USER:-navimpact}"
export NAVIMPACT_DB_PASSWORD_FILE="${NAVIMPACT_DB_PASSWORD_FILE:-/run/secrets/NAVIMPACT_DB_PASSWORD}"
[ -s "$NAVIMPACT_DB_PASSWORD_FILE" ] || { echo "init-navimpact: $NAVIMPACT_DB_PASSWORD_FILE is missing or empty" >&2; exit 1; }

# The password is read by psql itself (not passed on its command line, where `ps` shows it).
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v db="$db" -v user="$user" <<'SQL'
\set password `cat "$NAVIMPACT_DB_PASSWORD_FILE"`
CREATE ROLE :"user" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"user";
-- pg_trgm serves the REST search (migration 004). It is a trusted extension, which the
-- owner may create itself; creating it here, as superuser, also covers a server where it is
-- not trusted. The migration's CREATE EXTENSION IF NOT EXISTS then finds it.
\connect :"db"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
echo "init-navimpact: role $user owns database $db"
