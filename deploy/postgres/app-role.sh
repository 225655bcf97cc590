#!/bin/sh
# The router's own login role, apart from the tables' owner (POSTGRES_USER, who runs the
# migrations): compose's migrate job grants it what the service needs with the audit log read
# and append only (`dydx-router migrate up --grant-app-role`, docs/security.md "Audit log").
# The postgres image runs this once, when it creates a new data directory
# (/docker-entrypoint-initdb.d); on an existing volume create the role by hand
# (docs/deployment.md, "The database role").
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="${POSTGRES_APP_USER:?}" -v password="${POSTGRES_APP_PASSWORD:?}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
SQL
