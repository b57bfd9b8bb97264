"""Storage: engine and transactions (db.py), column types (types.py), tables, migrations."""
