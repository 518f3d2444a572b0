-- Schema privileges in database expresso, run by the superuser after the
-- database exists: only the owner creates objects; the daemons' role may
-- use the schema and nothing else until migrations grant it more.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO expresso_owner;
GRANT USAGE, CREATE ON SCHEMA public TO expresso_owner;
GRANT USAGE ON SCHEMA public TO expresso_app;
REVOKE ALL ON DATABASE expresso FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE expresso TO expresso_app;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE expresso TO expresso_owner;
