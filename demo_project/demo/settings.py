"""Settings of the flagschema demo: a shop whose release splits, converts and renames columns
behind waffle switches, on SQLite."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "flagschema-demo-not-secret"  # a local demo, never deployed
DEBUG = True
ALLOWED_HOSTS: list[str] = []  # with DEBUG, Django allows localhost

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "waffle",
    "flagschema",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After sessions and authentication: waffle's Flags (percent, users, groups) need both,
    # and keep a user's percentage choice in a cookie.
    "waffle.middleware.WaffleMiddleware",
    # One read side per request: a flip during a request cannot mix columns in its queries.
    "flagschema.flags.PinReadSideMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "waffle": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
}
# Waffle caches switches in WAFFLE_CACHE_NAME. A per-process LocMemCache there would keep a
# server on the old state for minutes after `waffle_switch` flips it from another process, so
# the demo gives waffle no cache: it reads the switch table, which flagschema asks at most once
# per FLAGSCHEMA_FLAG_TTL per process. In production point waffle at a shared cache (Redis,
# Memcached) instead.
WAFFLE_CACHE_NAME = "waffle"

# Seconds each process holds a resolved flag state (flagschema's default).
FLAGSCHEMA_FLAG_TTL = 1.0

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
