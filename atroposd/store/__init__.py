"""The durable ledger: SQLite by default, behind a narrow interface."""
