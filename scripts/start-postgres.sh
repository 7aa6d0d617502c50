#!/usr/bin/env bash
# Start the PostgreSQL server the catalog's integration tests use (Debian's postgresql 15, run
# by hand with pg_ctlcluster: these hosts have no systemd). Idempotent: creates the cluster,
# role and database only when missing, and starts the server only when it is down.
#
# A cluster of its own, "cleanroom-test", on 127.0.0.1:54329 only, tuned for tests (no fsync),
# with role and database cleanroom_test (password cleanroom_test; the role may create
# databases: each test session makes its own). Prints the URL the tests use:
#   postgresql://cleanroom_test:cleanroom_test@127.0.0.1:54329/cleanroom_test
set -euo pipefail

VERSION=15
CLUSTER=cleanroom-test
PORT=54329
ROLE=cleanroom_test
URL="postgresql://${ROLE}:${ROLE}@127.0.0.1:${PORT}/${ROLE}"

if [[ $(id -u) -ne 0 ]]; then
  echo "start-postgres.sh must run as root (it manages a PostgreSQL cluster)." >&2
  exit 1
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -x /usr/lib/postgresql/$VERSION/bin/postgres ]]; then
  echo "PostgreSQL $VERSION is missing: run CLEANROOM_WITH_TEST_TOOLS=1 scripts/install-system.sh" >&2
  exit 1
fi

if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$VERSION $CLUSTER"; then
  echo "creating PostgreSQL cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
  pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >/dev/null
fi
# Loopback only, and no durability: the data is thrown away after each test session.
conf=/etc/postgresql/$VERSION/$CLUSTER/conf.d/cleanroom-test.conf
if [[ ! -f "$conf" ]]; then
  cat >"$conf" <<'CONF'
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
CONF
fi

status=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')
if [[ "$status" != online* ]]; then
  echo "starting PostgreSQL $VERSION/$CLUSTER (log: /var/log/postgresql/postgresql-$VERSION-$CLUSTER.log)"
  # Debian's pg_ctlcluster asks systemd when it is PID 1; skip that on hosts without it.
  pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start
fi

psql_admin() {
  runuser -u postgres -- psql --port "$PORT" --host /var/run/postgresql -X -q -v ON_ERROR_STOP=1 "$@"
}
for _ in $(seq 30); do
  psql_admin -d postgres -c "SELECT 1" >/dev/null 2>&1 && break
  sleep 1
done
psql_admin -d postgres -c "SELECT 1" >/dev/null

if [[ -z $(psql_admin -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'") ]]; then
  psql_admin -d postgres -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE'"
fi
if [[ -z $(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$ROLE'") ]]; then
  psql_admin -d postgres -c "CREATE DATABASE $ROLE OWNER $ROLE"
fi
echo "$URL"
