#!/usr/bin/env bash
# The controller needs no PostgreSQL superuser: on the private server of
# tools/test.sh (NAS_TEST_PG_ADMIN_DSN) this makes a LOGIN role with
# NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS that owns one
# new database and nothing else (it must INHERIT: on PostgreSQL 15 the owner
# may create tables in `public` through the implicit pg_database_owner role), starts nas-controller on it (its migrations
# run as that role), runs a 4-trial table job to the end with nasctl and
# nas-worker, then checks as the role that the job's rows are there, that
# every table belongs to the role, and that the role really is unprivileged.
# Skipped without NAS_TEST_PG_ADMIN_DSN unless NAS_REQUIRE_PG=1 (then failed).
source tests/security/lib.sh

if [[ -z "${NAS_TEST_PG_ADMIN_DSN:-}" ]]; then
  [[ "${NAS_REQUIRE_PG:-}" == 1 ]] && fail "NAS_REQUIRE_PG=1 but NAS_TEST_PG_ADMIN_DSN is not set (run tools/test.sh)"
  echo "SKIP: NAS_TEST_PG_ADMIN_DSN not set"
  exit 0
fi
# postgresql://postgres@127.0.0.1:PORT/postgres -> host:port
hostport=$(sed -E 's|^postgres(ql)?://[^@]*@([^/?]+).*|\2|' <<<"$NAS_TEST_PG_ADMIN_DSN")
suffix=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
ROLE=nas_ctl_$suffix
DB=nas_role_$suffix
ROLE_DSN="postgresql://$ROLE:pw-$suffix@$hostport/$DB"

admin() { psql "$NAS_TEST_PG_ADMIN_DSN" -v ON_ERROR_STOP=1 -qAtX -c "$1"; }
as_role() { psql "$ROLE_DSN" -v ON_ERROR_STOP=1 -qAtX -c "$1"; }
drop_all() {
  admin "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  admin "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
}
trap 'cleanup; drop_all' EXIT

admin "CREATE ROLE $ROLE LOGIN PASSWORD 'pw-$suffix' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
admin "CREATE DATABASE $DB OWNER $ROLE"
admin "REVOKE ALL ON DATABASE $DB FROM PUBLIC"
[[ "$(admin "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = '$ROLE'")" == f ]] \
  || fail "the role was made with a privilege"
[[ "$(admin "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = '$ROLE'")" == 0 ]] \
  || fail "the role is a member of another role"

start_controller --store="$ROLE_DSN"
ADDR=127.0.0.1:$CONTROLLER_PORT
run_table_job role-job 4 --controller="$ADDR" -- --controller="$ADDR"
echo "ok: job $JOB ran to the end with the store as $ROLE"

[[ "$(as_role "SELECT count(*) FROM trials WHERE job_id = '$JOB' AND state = 4")" == 4 ]] \
  || fail "the job does not have 4 succeeded trials"
[[ "$(as_role "SELECT current_user")" == "$ROLE" ]] || fail "not connected as $ROLE"
tables=$(as_role "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
foreign=$(as_role "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tableowner <> current_user")
[[ "$tables" -gt 0 && "$foreign" == 0 ]] || fail "$foreign of $tables tables are not owned by $ROLE"
echo "ok: the migrations made $tables tables, all owned by $ROLE"
# The role really is unprivileged: these need rights it does not have.
for sql in "CREATE DATABASE ${DB}_x" "CREATE ROLE ${ROLE}_x" "ALTER ROLE $ROLE SUPERUSER" "SELECT count(*) FROM pg_authid"; do
  if as_role "$sql" >/dev/null 2>&1; then fail "$ROLE could run: $sql"; fi
done
echo "ok: $ROLE cannot create databases or roles, become superuser or read pg_authid"
echo PASS
