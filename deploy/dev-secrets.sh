#!/usr/bin/env bash
# Makes the secrets of the local (kind) stack, once, into .run/deploy.env (git-ignored), and
# prints the demo user's password. Production secrets come from your secret manager instead.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.run/deploy.env
if [ -s "$out" ]; then
  # shellcheck disable=SC1090
  . "$out"
  echo "using $out (delete it to make new secrets); demo login: admin-dex@example.com / $DEMO_ADMIN_PASSWORD" >&2
  exit 0
fi
mkdir -p .run
umask 077
hex() { openssl rand -hex "$1"; }
# The same shape as `auth-sidecar gen-secret`: 32 random bytes, url-safe base64.
b64url() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
admin_password=$(hex 12)
hash=$(python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$admin_password")
key=$(openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt)
{
  echo "DEMO_ADMIN_PASSWORD='$admin_password'"
  echo "DEX_CLIENT_SECRET='$(hex 24)'"
  echo "DEX_ADMIN_PASSWORD_HASH='$hash'"
  echo "POSTGRES_PASSWORD='$(hex 16)'"
  echo "POSTGRES_ADMIN_PASSWORD='$(hex 16)'"
  echo "REDIS_PASSWORD='$(hex 16)'"
  echo "SIDECAR_SESSION_SECRET='$(b64url)'"
  echo "SIDECAR_ASSERTION_SIGNING_KEY='$key'"
} > "$out"
echo "wrote $out; demo login: admin-dex@example.com / $admin_password" >&2
