#!/bin/sh
# The MLflow tracking server of a sweep cluster: runs and users in PostgreSQL, artifacts served
# by the server, MLflow's basic-auth app in front (no request without a user and password).
# Every secret comes from the environment and none reaches a command line (`ps` shows none):
#   PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD     PostgreSQL (libpq reads PGPASSWORD itself)
#   MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD   the admin user, made on the first start
#   MLFLOW_FLASK_SERVER_SECRET_KEY                 signs the UI's CSRF tokens (same on every server)
#   MLFLOW_ARTIFACTS MLFLOW_HOST MLFLOW_PORT MLFLOW_WORKERS MLFLOW_ALLOWED_HOSTS
# The admin's password is set when the user store is new; to change it later use MLflow's
# update-password API (changing the env file alone does not).
set -eu
: "${PGHOST:?}" "${PGUSER:?}" "${PGDATABASE:?}" "${PGPASSWORD:?}"
: "${MLFLOW_TRACKING_USERNAME:?}" "${MLFLOW_TRACKING_PASSWORD:?}" "${MLFLOW_FLASK_SERVER_SECRET_KEY:?}"
store="postgresql+psycopg2://${PGUSER}@${PGHOST}:${PGPORT:-5432}/${PGDATABASE}"
config_dir=$(mktemp -d)
chmod 700 "$config_dir"
cat > "$config_dir/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = ${store}
admin_username = ${MLFLOW_TRACKING_USERNAME}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$config_dir/basic_auth.ini"
export MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_TRACKING_PASSWORD"
export MLFLOW_BACKEND_STORE_URI="$store"
exec mlflow server --app-name basic-auth \
    --artifacts-destination "${MLFLOW_ARTIFACTS:-/mlartifacts}" --serve-artifacts \
    --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-4}" \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-localhost,127.0.0.1}"
