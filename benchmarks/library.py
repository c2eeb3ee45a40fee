"""How fast the library list page answers at 100,000 projects, on PostgreSQL and SQLite.

    .venv/bin/python benchmarks/library.py [--projects N] [--rounds R]

Each backend gets a fresh database built through the migrations and filled by
``generate_library``; the page is then requested through the Flask test client, signed in
as the city reviewer (every district) and as a district's staff, over a fixed mix of filters,
searches and pages. Prints a table of medians, p50/p95 per backend, and ends with
``library_p95_ms_postgresql <n>`` and ``library_p95_ms_sqlite <n>``.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate_library import RARE_PHRASE, generate_library  # noqa: E402
from workflow import create_app  # noqa: E402
from workflow.demo import DEMO_PASSWORD  # noqa: E402
from workflow.extensions import db  # noqa: E402
from workflow.models import District, User  # noqa: E402

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DATABASE = "library_bench"
USERS = ("city_reviewer", "yd_staff")


def request_mix(district_id: int) -> list[tuple[str, dict]]:
    """The requests timed for each user: a label and the query string."""
    return [
        ("no filter", {}),
        ("deep page", {"page": 50}),
        ("district", {"district": district_id}),
        ("category", {"category": "digital_government"}),
        ("maturity", {"maturity": "reserve"}),
        ("stage", {"stage": "city_review"}),
        ("common term", {"q": "数据"}),
        ("common term p20", {"q": "平台", "page": 20}),
        ("rare term", {"q": RARE_PHRASE}),
        ("unit", {"q": "智慧农业"}),
        ("code", {"q": "320903-65-01-0123"}),
        ("no match", {"q": "不存在的项目名称"}),
        ("category+maturity", {"category": "digital_economy", "maturity": "planning"}),
        ("district+stage+q", {"district": district_id, "stage": "draft", "q": "平台"}),
        ("maturity+q p5", {"maturity": "reserve", "q": "数据", "page": 5}),
    ]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_backend(url: str, data_dir: Path, projects: int, rounds: int) -> dict[str, list[float]]:
    """Migrate, fill and time one database; returns milliseconds per request label."""
    from flask_migrate import upgrade

    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "bench",
        "WTF_CSRF_ENABLED": False,
        "EMBEDDED_WORKER": False,
        "REDIS_URL": None,
    }
    app = create_app(config)
    timings: dict[str, list[float]] = {}
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        counts = generate_library(projects)
        print(f"  generated {counts} in {time.perf_counter() - started:.0f} s", flush=True)
        district_id = db.session.scalar(select(District.id).where(District.code == "320903"))
        names = db.session.scalars(select(User.username).where(User.username.in_(USERS))).all()
        assert sorted(names) == sorted(USERS), names
        db.session.remove()
    _analyze(url)
    for username in USERS:
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, response.text
        mix = request_mix(district_id)
        for round_number in range(rounds + 1):  # round 0 warms caches and is not counted
            for label, args in mix:
                path = "/projects" + (f"?{urlencode(args)}" if args else "")
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (path, response.status_code)
                if round_number:
                    timings.setdefault(f"{username:<13} {label}", []).append(elapsed)
    with app.app_context():
        db.engine.dispose()
    return timings


def _analyze(url: str) -> None:
    """Fresh statistics, as autovacuum would have gathered them on a live database."""
    if not url.startswith("postgresql"):
        return
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def _admin_dsn() -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> None:
    """Run both backends and print the table and the summary lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds of the request mix")
    args = parser.parse_args()

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="library-bench-") as folder:
        print(f"sqlite: {args.projects} projects", flush=True)
        sqlite_url = f"sqlite:///{Path(folder) / 'library.db'}"
        results["sqlite"] = bench_backend(sqlite_url, Path(folder), args.projects, args.rounds)

        print(f"postgresql: {args.projects} projects", flush=True)
        with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        try:
            pg_url = make_url(POSTGRES_URL).set(database=BENCH_DATABASE)
            results["postgresql"] = bench_backend(
                pg_url.render_as_string(hide_password=False),
                Path(folder),
                args.projects,
                args.rounds,
            )
        finally:
            with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')

    backends = ("postgresql", "sqlite")
    print()
    print(f"{'request (median ms)':<40}" + "".join(f"{b:>12}" for b in backends))
    for label in results["postgresql"]:
        medians = (statistics.median(results[b][label]) for b in backends)
        print(f"{label:<40}" + "".join(f"{m:>12.1f}" for m in medians))
    print()
    summary = {}
    for backend in backends:
        values = [ms for series in results[backend].values() for ms in series]
        p50, p95 = _percentile(values, 0.50), _percentile(values, 0.95)
        summary[backend] = p95
        print(f"{backend}: {len(values)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"library_p95_ms_postgresql {summary['postgresql']:.1f}")
    print(f"library_p95_ms_sqlite {summary['sqlite']:.1f}")


if __name__ == "__main__":
    main()
