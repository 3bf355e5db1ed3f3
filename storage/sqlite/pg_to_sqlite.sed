# Turns a PostgreSQL migration (postgres/migrations/*.sql) into its SQLite
# twin at build time, so both databases get the same tables, columns,
# indexes and views from one file. Only types and two functions differ.
1i -- Generated from the PostgreSQL migration by storage/sqlite/pg_to_sqlite.sed.
s/BIGSERIAL PRIMARY KEY/INTEGER PRIMARY KEY AUTOINCREMENT/g
s/JSONB/TEXT/g
s/BYTEA/BLOB/g
s/BOOLEAN NOT NULL DEFAULT FALSE/INTEGER NOT NULL DEFAULT 0/g
s/DOUBLE PRECISION/REAL/g
s/to_timestamp(\([^)]*\))/datetime(\1, 'unixepoch')/g
s/timestamptz columns/ISO-8601 text columns/g
