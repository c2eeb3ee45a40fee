"""Configuration: embedded SQLite and an in-process queue unless the environment says otherwise."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _seconds(text: str) -> list[int]:
    """A comma-separated list of whole seconds, e.g. "15,60,300"."""
    return [int(part) for part in text.split(",") if part.strip()]


class Config:
    """Settings read once at start-up; DATABASE_URL and REDIS_URL switch to the real servers."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")  # filled in by the factory
    # None means the embedded stand-in: fakeredis plus a worker thread inside the app process.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    DATA_DIR = os.environ.get("DATA_DIR", "")  # uploads and dossiers; defaults to instance/
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_MB", "20")) * 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None  # a long declaration form must not expire while being typed
    CITY_NAME = os.environ.get("CITY_NAME", "盐城市")
    CITY_CODE = os.environ.get("CITY_CODE", "320900")
    TIMEZONE = "Asia/Shanghai"
    DOSSIER_QUEUE = os.environ.get("DOSSIER_QUEUE", "dossiers")
    # Document jobs (dossier, monthly report, batch dossier): how long one run may take before
    # RQ stops it, how many times a failed run is tried again, and how long it waits before the
    # 1st, 2nd, 3rd retry (the last interval repeats). A retry is a fresh run from the database.
    DOSSIER_JOB_TIMEOUT = int(os.environ.get("DOSSIER_JOB_TIMEOUT", "300"))
    MONTHLY_REPORT_JOB_TIMEOUT = int(os.environ.get("MONTHLY_REPORT_JOB_TIMEOUT", "300"))
    BATCH_JOB_TIMEOUT = int(os.environ.get("BATCH_JOB_TIMEOUT", "3600"))
    # Rendered sections and parts of batch dossiers no build used for this many days are deleted
    # every night at 03:00 (and by `flask dossier prune-cache`); a deleted one is rendered again.
    DOSSIER_CACHE_DAYS = int(os.environ.get("DOSSIER_CACHE_DAYS", "30"))
    DOCUMENT_JOB_RETRIES = int(os.environ.get("DOCUMENT_JOB_RETRIES", "3"))
    DOCUMENT_RETRY_INTERVALS = _seconds(os.environ.get("DOCUMENT_RETRY_INTERVALS", "15,60,300"))
    # Worker processes (`flask --app wsgi worker`): every WORKER_JOB_MONITORING_INTERVAL seconds a
    # worker checks on its work-horse and renews the job's heartbeat; a job whose heartbeat is
    # WORKER_HEARTBEAT_GRACE seconds overdue counts as abandoned (its worker died) and is retried
    # by the next worker cleaning the registries, which each does every
    # WORKER_MAINTENANCE_INTERVAL seconds. An idle worker wakes every WORKER_TTL - 15 seconds.
    WORKER_JOB_MONITORING_INTERVAL = int(os.environ.get("WORKER_JOB_MONITORING_INTERVAL", "10"))
    WORKER_HEARTBEAT_GRACE = int(os.environ.get("WORKER_HEARTBEAT_GRACE", "60"))
    WORKER_MAINTENANCE_INTERVAL = int(os.environ.get("WORKER_MAINTENANCE_INTERVAL", "60"))
    WORKER_TTL = int(os.environ.get("WORKER_TTL", "60"))
    # Render one sample dossier in the worker before it forks work-horses, so each starts with
    # fonts and styles loaded (the first render in a cold process costs about a second).
    WORKER_WARM_UP = os.environ.get("WORKER_WARM_UP", "1") != "0"
    # The safety net (workflow/jobs.py recover_stuck_documents, every 5 minutes): a document
    # left queued/running this many seconds without a live job is queued again, at most
    # STUCK_JOB_REQUEUES times, then marked failed with the reason.
    STUCK_JOB_GRACE = int(os.environ.get("STUCK_JOB_GRACE", "300"))
    STUCK_JOB_REQUEUES = int(os.environ.get("STUCK_JOB_REQUEUES", "2"))
    # Test hook, unset in production: while the file it names exists, a document job waits just
    # before writing its file, so the worker tests can kill a work-horse in the middle of a job.
    DOCUMENT_JOB_GATE = os.environ.get("DOCUMENT_JOB_GATE") or None
    # `make run` starts the embedded worker with the app so /healthz shows it from the first second.
    START_EMBEDDED_WORKER = os.environ.get("START_EMBEDDED_WORKER") == "1"
    API_TOKEN_HOURS = int(os.environ.get("API_TOKEN_HOURS", "12"))
    # Per client address; the token endpoint is tighter to slow down password guessing.
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/minute")
    API_TOKEN_RATE_LIMIT = os.environ.get("API_TOKEN_RATE_LIMIT", "20/minute")
    # 前期要件 expiring within this many days are warned about (workflow/prerequisites.py).
    PREREQUISITE_WARNING_DAYS = int(os.environ.get("PREREQUISITE_WARNING_DAYS", "30"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    TESTING = False
    # The 23 characteristic industry chains are the city's own list; override per deployment.
    INDUSTRY_CHAINS = [
        "新能源",
        "汽车",
        "钢铁",
        "电子信息",
        "高端装备",
        "新材料",
        "节能环保",
        "生物医药",
        "现代农业",
        "智慧文旅",
        "绿色低碳",
        "数据产业",
    ]
    # The declaration form a new program starts with (the program's own fields).
    DEFAULT_FORM_FIELDS = [
        {
            "name": "necessity",
            "label": "项目建设必要性",
            "kind": "textarea",
            "required": True,
            "max_length": 3000,
        },
        {
            "name": "performance_goals",
            "label": "绩效目标",
            "kind": "textarea",
            "required": True,
            "max_length": 3000,
        },
        {
            "name": "implementation_plan",
            "label": "实施计划与进度安排",
            "kind": "textarea",
            "required": True,
            "max_length": 3000,
        },
        {
            "name": "data_benefits",
            "label": "数据赋能成效(含数量)",
            "kind": "textarea",
            "required": False,
            "max_length": 3000,
        },
    ]
