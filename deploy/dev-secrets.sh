#!/usr/bin/env bash
# Makes the secrets of the local (kind) stack, once, into .run/deploy.env (git-ignored; or
# $DEPLOY_ENV_FILE), and prints the demo user's password. Production secrets come from your
# secret manager instead.
#
# Every generated value is hex or url-safe base64: Dex expands `$VAR` in parts of its config
# (storage) and its image templates the config file, so a password holding `$` or `{{` would
# reach Postgres mangled. The bcrypt hash (it has `$`) goes to staticPasswords, never expanded.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEPLOY_ENV_FILE:-.run/deploy.env}
if [ -s "$out" ]; then
  # shellcheck disable=SC1090
  . "$out"
  echo "using $out (delete it to make new secrets); demo login: admin-dex@example.com / $DEMO_ADMIN_PASSWORD" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"
umask 077
hex() { openssl rand -hex "$1"; }
# The same shape as `auth-sidecar gen-secret`: 32 random bytes, url-safe base64, no padding.
b64url() { openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n'; }

# The bcrypt hash Dex wants for a static password, from the password on stdin. Python's `crypt`
# is gone since 3.13 (and on macOS makes no bcrypt), so: PyPI bcrypt in the project's venv
# (`make deps`), else htpasswd (apache2-utils; macOS has it), else htpasswd from the httpd image
# (docker is needed for the stack anyway).
python=${DEPLOY_PYTHON:-.venv/bin/python}
bcrypt_hash() {
  if [ -x "$python" ] && "$python" -c 'import bcrypt' 2>/dev/null; then
    "$python" -c 'import bcrypt, sys
print(bcrypt.hashpw(sys.stdin.buffer.read().rstrip(b"\n"), bcrypt.gensalt(10)).decode())'
  elif command -v htpasswd >/dev/null; then
    htpasswd -niBC 10 admin | cut -d: -f2
  elif command -v docker >/dev/null; then
    docker run --rm -i httpd:2.4-alpine htpasswd -niBC 10 admin | cut -d: -f2
  else
    echo "no bcrypt: run \`make deps\` (PyPI bcrypt), or install htpasswd or docker" >&2
    return 1
  fi
}

admin_password=$(hex 12)
hash=$(printf '%s\n' "$admin_password" | bcrypt_hash)
case $hash in
  '$2'?'$'*) ;;
  *) echo "not a bcrypt hash: $hash" >&2; exit 1 ;;
esac
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
