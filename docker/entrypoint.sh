#!/bin/sh
# Entry point of every container of the image: before anything starts, each secret named in
# ALPHAGAN_SECRETS must be set, not a placeholder of docker/.env.example and at least 16
# characters long; otherwise one line says which and the container exits 2. Then the command runs.
set -eu
for name in ${ALPHAGAN_SECRETS:-}; do
    eval "value=\${$name:-}"
    fix="set it in docker/.env to a long random string (openssl rand -hex 24)"
    case "$value" in
        "") echo "alphagan: $name is not set; $fix" >&2; exit 2 ;;
        change-me*) echo "alphagan: $name is still the placeholder of docker/.env.example; $fix" >&2; exit 2 ;;
    esac
    if [ "${#value}" -lt 16 ]; then
        echo "alphagan: $name is shorter than 16 characters; $fix" >&2
        exit 2
    fi
done
exec "$@"
