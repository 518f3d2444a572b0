-- Roles of the Expresso database, run by the PostgreSQL superuser before
-- any migration (psql variables owner_password and app_password).
--   expresso_owner  owns the database and every table; runs migrations.
--   expresso_app    the daemons' login role: owns nothing, no BYPASSRLS.
-- Idempotent: a second run only resets the passwords.
SELECT 'CREATE ROLE expresso_owner LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'expresso_owner') \gexec
SELECT 'CREATE ROLE expresso_app LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'expresso_app') \gexec

ALTER ROLE expresso_owner WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE CREATEDB PASSWORD :'owner_password';
ALTER ROLE expresso_app WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB PASSWORD :'app_password';
