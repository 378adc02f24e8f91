#!/usr/bin/env bash
# Entry point of the project image: the first argument names the role of the container.
#
#   thrift | dashboard | bronze   the services `ventes up` runs locally, same commands
#   spark-master | spark-worker | kafka-topic | health    see docker/serve.py
#   dbt-docs                  generate the dbt docs, then serve them on $DBT_DOCS_PORT
#   airflow-init              migrate Airflow's database, set the admin password, compile the dbt manifest
#   anything else             run as a command: `airflow scheduler`, `ventes produce --count 100`
set -euo pipefail

role="${1:-ventes}"
[ "$#" -gt 0 ] && shift

case "$role" in
  thrift | dashboard | bronze)
    exec python /app/docker/serve.py service "$role"
    ;;
  spark-master | spark-worker | kafka-topic | health)
    exec python /app/docker/serve.py "$role" "$@"
    ;;
  dbt-docs)
    ventes docs --no-serve
    exec python -m http.server "${DBT_DOCS_PORT:-8081}" --bind 0.0.0.0 \
      --directory "$VENTES_HOME/dbt/target"
    ;;
  airflow-init)
    : "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD (see .env.example)}"
    mkdir -p "$AIRFLOW_HOME"
    airflow db migrate
    # SimpleAuthManager reads the users' passwords from this JSON file.
    python -c 'import json, os, sys; json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
      > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    chmod 600 "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    python -c 'from ventes import airflow_local, settings; airflow_local.compile_manifest(settings.load())'
    echo "airflow-init: database migrated, admin password set, dbt manifest compiled"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
