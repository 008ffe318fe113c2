"""Migrations for ``flagschema lint``, one scenario per migration. The app is never installed
in the test settings (its migrations are read, never applied): tests add it for themselves."""
