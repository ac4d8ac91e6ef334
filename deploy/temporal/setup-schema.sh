#!/bin/sh
# Creates Temporal's two PostgreSQL databases if missing and brings their schemas to this admin-tools image's
# version: run before every server start, so an upgrade of the image upgrades the schema (an existing volume
# from the earlier auto-setup image included). Idempotent.
set -eu
# The password comes from SQL_PASSWORD in the environment, never from the command line.
sql() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$POSTGRES_USER" "$@"; }
for db in temporal temporal_visibility; do
    sql --db "$db" create 2>/dev/null || echo "database $db exists"
done
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
