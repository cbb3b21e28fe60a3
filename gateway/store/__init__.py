"""The store: tables, the database and the group-commit writer."""
