#!/bin/sh
# Entry point of every vidpipe image: `docker run IMAGE worker transcribe` runs `vidpipe worker transcribe`.
# On AWS the database password lives in the RDS-managed secret; DB_URL is assembled here, at start, so it
# never appears in Terraform state, task definitions or user data (and a rotated password is picked up on
# the next start).
set -eu
if [ -z "${DB_URL:-}" ] && [ -n "${DB_SECRET_ARN:-}" ]; then
    DB_URL="$(python /usr/local/lib/vidpipe/db_url.py)"
    export DB_URL
fi
exec vidpipe "$@"
