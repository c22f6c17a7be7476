# Sourced by scripts/test: Debian packages and throwaway PostgreSQL / Redis servers and a local
# RFC 3161 time-stamping authority on loopback.

source "$(dirname "${BASH_SOURCE[0]}")/tsa.sh"

_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "Need root to run: $*" >&2; return 1
  fi
}

_pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

debian_packages_ensure() {
  local missing=()
  { [ -n "${CELERY_BROKER_URL:-}" ] || command -v redis-server >/dev/null 2>&1; } || missing+=(redis-server)
  { [ -n "${DATABASE_URL:-}" ] || _pg_bindir >/dev/null; } || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # the local time-stamping authority
  # The PACS of the imaging tests (a throwaway Orthanc with its DICOMweb plugin, docs/imaging.md).
  { command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; } || missing+=(orthanc)
  [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

_free_port() {
  python - <<'PY'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

_SERVICES_DIR=""
_PG_STARTED=""
_REDIS_PIDFILE=""

services_stop() {
  tsa_stop
  if [ -n "$_PG_STARTED" ]; then
    _pg_run "$(_pg_bindir)/pg_ctl" -D "$_SERVICES_DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "$_REDIS_PIDFILE" ] && [ -f "$_REDIS_PIDFILE" ]; then
    kill "$(cat "$_REDIS_PIDFILE")" 2>/dev/null || true
  fi
  [ -n "$_SERVICES_DIR" ] && rm -rf "$_SERVICES_DIR"
  return 0
}

# initdb and postgres refuse to run as root: run them as the 'postgres' user then.
_pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
  _SERVICES_DIR=$(mktemp -d /tmp/rightlevel-test-XXXXXX)
  chmod 755 "$_SERVICES_DIR"
  trap services_stop EXIT
  trap 'exit 130' INT TERM

  if [ -z "${DATABASE_URL:-}" ]; then
    local bindir port
    bindir=$(_pg_bindir)
    port=$(_free_port)
    mkdir -p "$_SERVICES_DIR/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$_SERVICES_DIR/pg"
    _pg_run "$bindir/initdb" -D "$_SERVICES_DIR/pg" -A trust -U postgres --no-sync -E UTF8 >/dev/null
    _pg_run "$bindir/pg_ctl" -D "$_SERVICES_DIR/pg" -l "$_SERVICES_DIR/pg/server.log" -w \
      -o "-h 127.0.0.1 -p $port -k $_SERVICES_DIR/pg -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
      start >/dev/null
    _PG_STARTED=1
    # Two roles, as in production: the owner runs the migrations (and, in tests, creates the test
    # database, so it may create databases); the application role owns nothing and is granted only
    # what it needs after each migrate (checklist/audit/db_roles.py). Neither is a superuser. The suite
    # logs in as the owner and runs as the application role (tests/conftest.py).
    "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
      -c "CREATE ROLE rightlevel_owner LOGIN CREATEDB NOSUPERUSER NOCREATEROLE" \
      -c "CREATE ROLE rightlevel_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" \
      -c "GRANT rightlevel_app TO rightlevel_owner"  # lets the owner's test session SET ROLE to it
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres -O rightlevel_owner rightlevel
    export DATABASE_URL="postgres://rightlevel_owner@127.0.0.1:$port/rightlevel"
    export DATABASE_APP_ROLE=rightlevel_app
    export DATABASE_APP_URL="postgres://rightlevel_app@127.0.0.1:$port/rightlevel"
    echo "== PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
  fi

  if [ -n "${CELERY_BROKER_URL:-}" ] && [[ "$CELERY_BROKER_URL" == redis* ]]; then
    export RIGHTLEVEL_TEST_REDIS_URL=${RIGHTLEVEL_TEST_REDIS_URL:-$CELERY_BROKER_URL}
  elif [ -z "${RIGHTLEVEL_TEST_REDIS_URL:-}" ]; then
    local rport
    rport=$(_free_port)
    _REDIS_PIDFILE="$_SERVICES_DIR/redis.pid"
    redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --daemonize yes \
      --pidfile "$_REDIS_PIDFILE" --dir "$_SERVICES_DIR" --logfile "$_SERVICES_DIR/redis.log"
    for _ in $(seq 1 50); do
      redis-cli -p "$rport" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    export RIGHTLEVEL_TEST_REDIS_URL="redis://127.0.0.1:$rport/0"
    echo "== Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$rport"
  fi
  export RIGHTLEVEL_REDIS_SERVER=${RIGHTLEVEL_REDIS_SERVER:-$(command -v redis-server || true)}

  # The time-stamp tests use it (RIGHTLEVEL_TEST_TSA_URL); other tests run with time-stamping off.
  tsa_start "$_SERVICES_DIR/tsa"
  export RIGHTLEVEL_TEST_TSA_URL=$TSA_LOCAL_URL RIGHTLEVEL_TEST_TSA_CERTIFICATE=$TSA_LOCAL_CERTIFICATE
}

# Test-only JavaScript (axe-core, injected into pages by the browser tests), from package-lock.json.
node_packages_ensure() {
  if [ ! -f node_modules/axe-core/axe.min.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== npm install (axe-core for the accessibility checks)"
    npm install --no-audit --no-fund --silent
  fi
}
