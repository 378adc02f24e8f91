#!/usr/bin/env bash
# First start of the PostgreSQL container (an empty data volume): one login role per database,
# owning that database and nothing else, with no way into the other one:
#
#   AIRFLOW_DB_USER    owns AIRFLOW_DB     Airflow's metadata database (the Airflow services)
#   METASTORE_DB_USER  owns METASTORE_DB   the Hive metastore (the Thrift server)
#
# The roles cannot create roles or databases; PUBLIC loses CONNECT on both databases and on the
# maintenance database. The superuser (POSTGRES_USER) is for this container alone.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD}"
: "${METASTORE_DB_PASSWORD:?set METASTORE_DB_PASSWORD}"

# role, database, and the name of the variable that holds the role's password (read by psql
# itself, so the password is on no command line).
create_owner() {
  ROLE_PASSWORD="${!3}" psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" \
    --dbname "${POSTGRES_DB:-$POSTGRES_USER}" --set role="$1" --set database="$2" <<'SQL'
\getenv password ROLE_PASSWORD
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
}

create_owner "${AIRFLOW_DB_USER:-airflow}" "${AIRFLOW_DB:-airflow}" AIRFLOW_DB_PASSWORD
create_owner "${METASTORE_DB_USER:-metastore}" "${METASTORE_DB:-metastore}" METASTORE_DB_PASSWORD
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  --set maintenance="${POSTGRES_DB:-$POSTGRES_USER}" <<'SQL'
REVOKE CONNECT ON DATABASE :"maintenance" FROM PUBLIC;
SQL
echo "roles ${AIRFLOW_DB_USER:-airflow} and ${METASTORE_DB_USER:-metastore} own ${AIRFLOW_DB:-airflow} and ${METASTORE_DB:-metastore}"
