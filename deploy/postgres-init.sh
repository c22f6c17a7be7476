#!/bin/sh
# Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d), as the
# bootstrap superuser, which nothing else uses. Creates the two roles RightLevel needs:
#   rightlevel_owner  owns the database and every table; only `migrate` connects as it;
#   rightlevel_app    what web, worker and beat connect as: no superuser, owns nothing, granted
#                     only what it needs after each migrate (checklist/audit/db_roles.py).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$POSTGRES_OWNER_PASSWORD" -v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE rightlevel_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE rightlevel_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE rightlevel OWNER rightlevel_owner;
\connect rightlevel
REVOKE ALL ON DATABASE rightlevel FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE rightlevel TO rightlevel_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO rightlevel_owner;
SQL
