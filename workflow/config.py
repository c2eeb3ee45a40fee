"""Configuration: embedded SQLite and an in-process queue unless the environment says otherwise."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    DOSSIER_JOB_TIMEOUT = 300
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
