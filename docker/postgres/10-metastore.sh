#!/usr/bin/env bash
# First start of the PostgreSQL container: besides Airflow's database (POSTGRES_DB), create the
# Hive metastore's database, which every Spark JVM of the deployment shares (METASTORE_URL).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"${METASTORE_DB:-metastore}\" OWNER \"$POSTGRES_USER\""
