#!/bin/sh
# Creates the roles and the database of Expresso. The postgres image runs
# the scripts in /docker-entrypoint-initdb.d once, when it initialises an
# empty data volume. Changing a password later takes ALTER ROLE.
#
#   expresso_owner  owns the database and every table, runs the migrations
#   expresso_app    the daemons' login role: owns nothing
#
# Neither is a superuser or has BYPASSRLS, so row-level security applies
# to both. The migrations grant expresso_app its table privileges.
set -eu

: "${EXPRESSO_DB_OWNER_PASSWORD:?set EXPRESSO_DB_OWNER_PASSWORD in deploy/.env}"
: "${EXPRESSO_DB_APP_PASSWORD:?set EXPRESSO_DB_APP_PASSWORD in deploy/.env}"

# psql substitutes :'name' with the variable as a quoted literal, so the
# passwords need no escaping here.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner_password="$EXPRESSO_DB_OWNER_PASSWORD" \
  -v app_password="$EXPRESSO_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE expresso_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
CREATE ROLE expresso_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
CREATE DATABASE expresso OWNER expresso_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE expresso FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE expresso TO expresso_app;
SQL

# PostgreSQL 15 gives the public schema to the database owner and no CREATE
# to PUBLIC. Stating both keeps expresso_app from creating objects.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname expresso <<'SQL'
ALTER SCHEMA public OWNER TO expresso_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO expresso_app;
SQL
