"""Settings for the test suite. The database is chosen by environment variables:

FLAGSCHEMA_TEST_DB        sqlite (default) | postgresql | mariadb
FLAGSCHEMA_TEST_DB_HOST   default 127.0.0.1
FLAGSCHEMA_TEST_DB_PORT   default 5432 for postgresql, 3306 for mariadb
FLAGSCHEMA_TEST_DB_USER   default postgres for postgresql, root for mariadb
FLAGSCHEMA_TEST_DB_PASSWORD  default empty
FLAGSCHEMA_TEST_REDIS     a redis:// URL; when set, the cache (and so waffle) is Redis
"""

import os

VENDOR = os.environ.get("FLAGSCHEMA_TEST_DB", "sqlite").lower()
HOST = os.environ.get("FLAGSCHEMA_TEST_DB_HOST", "127.0.0.1")
PASSWORD = os.environ.get("FLAGSCHEMA_TEST_DB_PASSWORD", "")

if VENDOR == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("FLAGSCHEMA_TEST_DB_NAME", ":memory:"),
            "TEST": {"NAME": os.environ.get("FLAGSCHEMA_TEST_DB_NAME") or None},
        }
    }
elif VENDOR in ("postgresql", "postgres"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("FLAGSCHEMA_TEST_DB_NAME", "flagschema"),
            "HOST": HOST,
            "PORT": os.environ.get("FLAGSCHEMA_TEST_DB_PORT", "5432"),
            "USER": os.environ.get("FLAGSCHEMA_TEST_DB_USER", "postgres"),
            "PASSWORD": PASSWORD,
        }
    }
elif VENDOR in ("mariadb", "mysql"):
    import pymysql

    pymysql.install_as_MySQLdb()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("FLAGSCHEMA_TEST_DB_NAME", "flagschema"),
            "HOST": HOST,
            "PORT": os.environ.get("FLAGSCHEMA_TEST_DB_PORT", "3306"),
            "USER": os.environ.get("FLAGSCHEMA_TEST_DB_USER", "root"),
            "PASSWORD": PASSWORD,
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4"},
        }
    }
else:
    raise RuntimeError(f"FLAGSCHEMA_TEST_DB={VENDOR!r} is not one of sqlite, postgresql, mariadb.")

REDIS_URL = os.environ.get("FLAGSCHEMA_TEST_REDIS", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"flagschema-tests-{os.getpid()}",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SECRET_KEY = "flagschema-tests"
DEBUG = False
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "waffle",
    "flagschema",
    "tests.apps.rename",
    "tests.apps.convert",
    "tests.apps.reshape",
    "tests.apps.rollout",
    # Composite primary keys, db_default and GeneratedField: models on the Djangos that have
    # them (the app is empty before 5.0).
    "tests.apps.modern",
    "tests.apps.writes",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "flagschema.flags.PinReadSideMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WAFFLE_CREATE_MISSING_SWITCHES = False
