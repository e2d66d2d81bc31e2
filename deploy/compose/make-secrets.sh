#!/bin/sh
# Creates the secret files of deploy/compose.production.yml in deploy/compose/secrets/
# (a folder only its owner can enter; gitignored). Files that exist are kept, so running
# it again adds only what is missing. Needs openssl and sha256sum.
#
#   sh deploy/compose/make-secrets.sh
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
# Containers read the files through bind mounts as their own users (postgres, redis,
# node): readable inside, while the folder keeps other users of this host out.
umask 022

random() { openssl rand -hex 32; }
# nats-server reads each `$VARIABLE` of accounts.conf as a config value: one that starts with
# a digit is parsed as a number and the server refuses to start. NATS passwords start with a letter.
nats_random() { printf 'n%s' "$(openssl rand -hex 32)"; }
# write NAME VALUE: creates secrets/NAME unless it exists.
write() {
  if [ -e "$dir/$1" ]; then return; fi
  printf '%s\n' "$2" > "$dir/$1"
  echo "created $dir/$1"
}
read_secret() { tr -d '\n' < "$dir/$1"; }

write POSTGRES_PASSWORD "$(random)"
write NAVIMPACT_DB_PASSWORD "$(random)"
write DATABASE_URL "postgres://navimpact:$(read_secret NAVIMPACT_DB_PASSWORD)@postgres:5432/navimpact"

write REDIS_PASSWORD "$(random)"
write REDIS_ACL "user default on #$(read_secret REDIS_PASSWORD | tr -d '\n' | sha256sum | cut -d' ' -f1) ~* &* +@all"
write REDIS_URL "redis://:$(read_secret REDIS_PASSWORD)@redis:6379"

write NAVIMPACT_NATS_PASSWORD "$(nats_random)"
nats_password="$(read_secret NAVIMPACT_NATS_PASSWORD)"
write NATS_URL "nats://navimpact:$nats_password@nats-1:4222,nats://navimpact:$nats_password@nats-2:4222,nats://navimpact:$nats_password@nats-3:4222"
write SCRAPER_GRANTCONNECT_NATS_PASSWORD "$(nats_random)"
write SCRAPER_VIC_GOV_AU_NATS_PASSWORD "$(nats_random)"

write JWT_SECRET "$(openssl rand -hex 48)"
