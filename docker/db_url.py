"""Print a libpq URL built from DB_HOST/DB_PORT/DB_NAME/DB_SSLMODE and the RDS-managed secret DB_SECRET_ARN.

The secret is JSON with `username` and `password` (RDS `manage_master_user_password`). Runs at container
start (docker/entrypoint.sh) with the container's role credentials.
"""

import json
import os
import sys
from urllib.parse import quote

import boto3


def main() -> int:
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["DB_SECRET_ARN"])["SecretString"]
    )
    user = quote(secret["username"], safe="")
    password = quote(secret["password"], safe="")
    host = os.environ["DB_HOST"]
    port = os.environ.get("DB_PORT", "5432")
    name = os.environ.get("DB_NAME", "vidpipe")
    sslmode = os.environ.get("DB_SSLMODE", "require")
    sys.stdout.write(f"postgresql://{user}:{password}@{host}:{port}/{name}?sslmode={sslmode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
