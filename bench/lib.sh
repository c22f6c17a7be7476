# Sourced by bench/run and bench/load: throwaway PostgreSQL and Redis on 127.0.0.1 (stopped at
# exit), a fresh migrated database and collected static files, under production-like settings
# (bench/settings.py). Never touches a DATABASE_URL or broker from the caller's environment.

bench_prepare() {
  PYTHON=${PYTHON:-python3.11}
  command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
  source scripts/lib/venv.sh
  source scripts/lib/services.sh
  venv_ensure "$PYTHON" requirements-dev.txt
  if ! command -v redis-server >/dev/null 2>&1 || ! _pg_bindir >/dev/null; then
    debian_packages_ensure
  fi
  unset DATABASE_URL CELERY_BROKER_URL REDIS_URL RIGHTLEVEL_TEST_REDIS_URL
  services_start
  BENCH_DIR=${BENCH_DIR:-var/bench}
  mkdir -p "$BENCH_DIR"
  BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
  export BENCH_DIR
  export DJANGO_SETTINGS_MODULE=bench.settings
  SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')
  export SECRET_KEY
  export CELERY_BROKER_URL=$RIGHTLEVEL_TEST_REDIS_URL
  export RIGHTLEVEL_VAR_DIR=$_SERVICES_DIR/var BENCH_STATIC_ROOT=$_SERVICES_DIR/static
  export LOG_LEVEL=${LOG_LEVEL:-WARNING}
  export TSA_URL=$RIGHTLEVEL_TEST_TSA_URL TSA_CERTIFICATE=$RIGHTLEVEL_TEST_TSA_CERTIFICATE
  AUDIT_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')
  export AUDIT_KEY
  echo "== migrate a fresh database (as the owner role), collect static files"
  python manage.py migrate --noinput >/dev/null
  python manage.py collectstatic --noinput >/dev/null
  # Everything from here on runs as the application role, as in production.
  export DATABASE_URL=$DATABASE_APP_URL
}
