"""Settings of the subprocesses of the end-to-end test in tests/test_contract.py: a copy of
tests/apps/contract, importable as ``contract`` from ``FLAGSCHEMA_CONTRACT_E2E_DIR``, on the
database vendor the suite runs on (``FLAGSCHEMA_TEST_DB``), in a database of its own."""

import os

from tests.settings import DATABASES as SUITE_DATABASES
from tests.settings import VENDOR

DIRECTORY = os.environ["FLAGSCHEMA_CONTRACT_E2E_DIR"]

# FLAGSCHEMA_CONTRACT_E2E_FRESH: another database, for `migrate` from zero beside the first.
_SUFFIX = "_fresh" if os.environ.get("FLAGSCHEMA_CONTRACT_E2E_FRESH") else ""

_database = dict(SUITE_DATABASES["default"])
if VENDOR == "sqlite":
    _name = os.path.join(DIRECTORY, f"db{_SUFFIX}.sqlite3")
else:
    _name = f"test_{_database['NAME']}_contract_e2e{_SUFFIX}"
_database.update(NAME=_name, TEST={**_database.get("TEST", {}), "NAME": _name})
DATABASES = {"default": _database}

SECRET_KEY = "flagschema-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "waffle",
    "flagschema",
    "contract",
]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
WAFFLE_CREATE_MISSING_SWITCHES = False
