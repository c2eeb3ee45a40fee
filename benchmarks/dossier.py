"""How fast 申报材料 are made and how big they are, beside headless Chromium printing the same HTML.

    .venv/bin/python benchmarks/dossier.py [--rounds N] [--declarations N]
    .venv/bin/python -m benchmarks.dossier

Builds its own database (SQLite in a temporary folder, or the scratch database DATABASE_URL
names, which it migrates and fills) with the demo and two kinds of declarations on top:

- one with long 建设内容/数据内容 and declaration form, so that its dossier is a typical 14–20
  pages of Chinese text and tables. Its HTML is rendered by WeasyPrint in this (warm) process
  and printed by a warm headless Chromium through Playwright, in turns, N times after warm-up;
  then the dossier is asked for through the web app (Flask test client, signed in as the manager)
  with a warm worker running — a real ``flask worker`` against REDIS_URL when it is set, else
  the embedded worker thread — and timed from the click until the file is downloaded;
- a program with N recommended declarations (100 by default), each with attachments, whose batch
  dossier is built in a child process (workflow.batch.build_batch_file), once from nothing and
  once after one declaration changed; the child's peak RSS is read from the kernel when it ends.

Prints the WeasyPrint font subsetting path and refuses to report figures unless it is HarfBuzz.
Ends with one line per figure: dossier_render_ratio_vs_chromium, dossier_click_to_file_s,
batch_full_s, batch_regen_speedup, batch_peak_rss_mb, pdf_size_ratio_vs_chromium.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pypdf import PdfReader  # noqa: E402
from sqlalchemy import delete, select  # noqa: E402

from documents.dossier import dossier_html  # noqa: E402
from documents.pdf import html_to_pdf, subsetting_path  # noqa: E402
from documents.sample import sample_dossier_data  # noqa: E402
from workflow import create_app, operations  # noqa: E402
from workflow.config import PROJECT_ROOT  # noqa: E402
from workflow.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from workflow.dossier_data import dossier_data  # noqa: E402
from workflow.extensions import db  # noqa: E402
from workflow.models import (  # noqa: E402
    Declaration,
    District,
    Dossier,
    FundingProgram,
    Prerequisite,
    Project,
    User,
)
from workflow.queue import dossier_queue  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = (14, 20)  # a typical single dossier
BATCH_MIN_PAGES = 300
REASON = "基准测试数据:同类项目分别申报,建设内容和资金来源不重复"
FIGURES = (
    "dossier_render_ratio_vs_chromium",
    "dossier_click_to_file_s",
    "batch_full_s",
    "batch_regen_speedup",
    "batch_peak_rss_mb",
    "pdf_size_ratio_vs_chromium",
)


# --- the app and its data ------------------------------------------------------------------------


def app_config(url: str, data_dir: Path, redis_url: str | None, queue_name: str) -> dict:
    """Settings of every app this benchmark builds (here, in the batch child, in the worker)."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "bench",
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": redis_url,
        "DOSSIER_QUEUE": queue_name,
        "RATELIMIT_ENABLED": False,
    }


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def long_texts(repeat: int) -> tuple[str, str, list[str]]:
    """建设内容, 数据内容 and form answers from the sample dossier's texts, repeated."""
    sample = sample_dossier_data()
    content = "\n".join([sample["project"]["content"]] * repeat)
    data_content = "\n".join([sample["project"]["data_content"]] * repeat)
    answers = [field["value"] for field in sample["declaration"]["form_fields"]]
    return content, data_content, answers


def _form_data(program: FundingProgram, answers: list[str], repeat: int) -> dict:
    fields = program.form_fields or []
    return {
        f["name"]: "\n".join(
            [answers[i % len(answers)], answers[(i + 3) % len(answers)]] * max(1, repeat // 2)
        )
        for i, f in enumerate(fields)
    }


def _new_project(district: District, name: str, index: int, content: str, data: str) -> Project:
    today = operations.local_today()
    total = Decimal(3000 + 97 * index)
    central = (total * Decimal("0.2")).quantize(Decimal("1"))
    local = (total * Decimal("0.1")).quantize(Decimal("1"))
    project = Project(
        code=f"{today.year}-{district.code}-65-01-{100000 + index:06d}",
        name=name,
        district=district,
        applicant_unit="盐城数智城市科技有限公司",
        applicant_uscc="91320902MA1XK3P75H",
        category="digital_infrastructure",
        industry_chain="数据产业",
        nature="new",
        location=f"{district.name}数据产业园",
        planned_start=date(today.year + 1, 3, 1),
        planned_end=date(today.year + 2, 6, 1),
        total_investment=total,
        fund_central=central,
        fund_local_fiscal=local,
        fund_self=total - central - local,
        content=content,
        data_content=data,
        maturity="reserve",
        is_key=index % 3 == 0,
        contact_name="陈思远",
        contact_mobile="13851550137",
    )
    project.prerequisites = [
        Prerequisite(
            kind=kind,
            doc_number=f"{district.name[:2]}发改审〔{today.year}〕{10 + index}号",
            issued_on=today - timedelta(days=60),
            valid_until=date(today.year + 3, 12, 31),
        )
        for kind in ("feasibility_approval", "land_site")
    ]
    db.session.add(project)
    db.session.flush()
    return project


def _recommend(decl: Declaration, attachments: list[tuple[str, str, bytes]]) -> None:
    """Upload, submit, get returned once, resubmit, pass both reviews: a believable history."""
    code = decl.project.district.code
    staff = _user("yd_staff" if code == "320903" else "th_staff")
    reviewer = _user("yd_reviewer" if code == "320903" else "th_reviewer")
    for kind, name, content in attachments:
        operations.add_attachment(decl, kind=kind, filename=name, content=content, actor=staff)
    steps = (
        ("submit", staff, ""),
        ("approve", reviewer, "材料齐全,同意推荐至市数据局。"),
        ("return_for_revision", _user("city_reviewer"), "请补充地方配套资金落实情况。"),
        ("resubmit", staff, "已补充区财政配套资金承诺函。"),
        ("approve", reviewer, "补充材料齐全,同意推荐。"),
        ("approve", _user("city_reviewer"), "项目成熟度高,数据内容丰富,同意推荐上报。"),
    )
    for trigger, actor, comment in steps:
        operations.act_on_declaration(
            decl, trigger, actor=actor, comment=comment, expected_version=decl.version
        )


def attachment_pdf() -> bytes:
    """A one-page PDF of Chinese text, as an uploaded 申报书 or 可研报告 would be."""
    text = sample_dossier_data()["project"]["content"].replace("\n", "</p><p>")
    return html_to_pdf(
        "<style>@page{size:A4;margin:20mm}html{font-family:'Noto Sans CJK SC';font-size:10pt}"
        f"</style><h1>申报书(摘要)</h1><p>{text}</p>"
    )


def photo() -> bytes:
    """A site photo (JPEG), which the batch places on a page of its own."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((1600, 1200)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def make_long_declaration(pdf: bytes) -> int:
    """A recommended declaration whose dossier is 14–20 pages; returns its id."""
    program = db.session.scalars(select(FundingProgram).order_by(FundingProgram.id)).first()
    yandu = db.session.scalar(select(District).where(District.code == "320903"))
    content, data, answers = long_texts(1)
    project = _new_project(yandu, "盐都区城市运行“一网统管”数据底座建设项目", 0, content, data)
    decl = operations.create_declaration(
        project,
        program,
        {"requested_amount": Decimal("900"), "form_data": _form_data(program, answers, 1)},
        actor=_user("yd_staff"),
        overlap_reason=REASON,
    )
    kinds = (
        ("application", "申报书(盖章版).pdf"),
        ("feasibility_report", "可行性研究报告.pdf"),
        ("commitment_letter", "申报真实性承诺函.pdf"),
    )
    _recommend(decl, [(kind, name, pdf) for kind, name in kinds])
    db.session.commit()
    # Lengthen the texts until the dossier is a typical one. The declaration is already
    # recommended, so this edits the rows directly (their versions still move on).
    best = None
    for repeat in range(1, 12):
        content, data, answers = long_texts(repeat)
        project.content, project.data_content = content, data
        decl.form_data = _form_data(program, answers, repeat)
        db.session.commit()
        pages = _page_count(html_to_pdf(dossier_html(dossier_data(decl))))
        if PAGES[0] <= pages <= PAGES[1]:
            best = (repeat, pages)
            if pages >= sum(PAGES) // 2:
                break
        elif pages > PAGES[1]:
            break
    if best is None:
        raise SystemExit(f"could not make a dossier of {PAGES[0]}–{PAGES[1]} pages")
    content, data, answers = long_texts(best[0])
    project.content, project.data_content = content, data
    decl.form_data = _form_data(program, answers, best[0])
    db.session.commit()
    return decl.id


def make_batch_program(count: int, pdf: bytes, jpeg: bytes) -> int:
    """A program of its own with ``count`` recommended declarations; returns its id.

    Each has its 申报书 (one page) and every fourth a site photo too: with a section of two to
    three pages, about four pages per declaration.
    """
    first = db.session.scalars(select(FundingProgram).order_by(FundingProgram.id)).first()
    program = FundingProgram(
        **{
            column.key: getattr(first, column.key)
            for column in FundingProgram.__table__.columns
            if column.key not in ("id", "title", "version", "created_at", "updated_at")
        }
    )
    program.title = f"{first.title}(批量申报材料基准)"
    program.required_attachments = ["application"]
    db.session.add(program)
    db.session.flush()
    districts = {
        d.code: d
        for d in db.session.scalars(select(District).where(District.code.in_(["320903", "320902"])))
    }
    sample = sample_dossier_data()
    content = sample["project"]["content"].split("\n")
    data = sample["project"]["data_content"].split("\n")
    answers = [f["value"] for f in sample["declaration"]["form_fields"]]
    for index in range(1, count + 1):
        district = districts["320903" if index % 2 else "320902"]
        project = _new_project(
            district,
            f"{district.name}数据要素应用示范项目(第{index:03d}号)",
            index,
            "\n".join(content[: 4 + index % 5]),
            "\n".join(data[: 3 + index % 4]),
        )
        decl = operations.create_declaration(
            project,
            program,
            {
                "requested_amount": Decimal(200 + index),
                "form_data": {
                    f["name"]: answers[(index + i) % len(answers)]
                    for i, f in enumerate(program.form_fields or [])
                },
            },
            actor=_user("yd_staff" if district.code == "320903" else "th_staff"),
            overlap_reason=REASON,
        )
        files = [("application", "申报书(盖章版).pdf", pdf)]
        if index % 4 == 0:
            files.append(("other", "项目现场照片.jpg", jpeg))
        _recommend(decl, files)
        if index % 10 == 0:
            db.session.commit()
    db.session.commit()
    return program.id


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


# --- render time: WeasyPrint here, Chromium through Playwright, in turns -------------------------


def bench_render(html: str, rounds: int) -> dict:
    """Median seconds and PDF sizes of both renderers on the same HTML, warm, in turns."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()

        def chromium() -> bytes:
            page.set_content(html)
            return page.pdf(format="A4", print_background=True, prefer_css_page_size=True)

        ours, theirs = [], []
        for _ in range(2):  # warm-up: fonts loaded, caches filled, code paths compiled
            ours_pdf, theirs_pdf = html_to_pdf(html), chromium()
        for _ in range(rounds):
            started = time.perf_counter()
            ours_pdf = html_to_pdf(html)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            theirs_pdf = chromium()
            theirs.append(time.perf_counter() - started)
        version = browser.version
        browser.close()
    return {
        "weasyprint_s": statistics.median(ours),
        "chromium_s": statistics.median(theirs),
        "weasyprint_all": ours,
        "chromium_all": theirs,
        "weasyprint_bytes": len(ours_pdf),
        "chromium_bytes": len(theirs_pdf),
        "weasyprint_pages": _page_count(ours_pdf),
        "chromium_pages": _page_count(theirs_pdf),
        "chromium_version": version,
    }


# --- click to file -------------------------------------------------------------------------------


def start_worker(url: str, data_dir: Path, redis_url: str, queue_name: str) -> subprocess.Popen:
    """A real ``flask worker`` process on its own queue, against this benchmark's database."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "DOSSIER_QUEUE": queue_name,
        "SECRET_KEY": "bench",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def click_to_file(app, decl_id: int, rounds: int) -> list[float]:
    """Seconds from 生成申报材料 to the downloaded PDF, per round (after one warm-up round)."""
    client = app.test_client()
    response = client.post("/login", data={"username": "manager", "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.status_code
    timings = []
    for round_number in range(rounds + 1):
        with app.app_context():  # a fresh dossier each round, as after an edit
            db.session.execute(delete(Dossier).where(Dossier.declaration_id == decl_id))
            db.session.commit()
        started = time.perf_counter()
        response = client.post(f"/declarations/{decl_id}/dossiers")
        assert response.status_code == 302, response.status_code
        status_url = response.headers["Location"].rstrip("/") + "/status"
        deadline = started + 120
        while True:
            state = client.get(status_url).get_json()
            if state["status"] == "ready":
                break
            if state["status"] == "failed" or time.perf_counter() > deadline:
                raise SystemExit(f"the dossier did not come: {state}")
            # Every 50 ms: often enough to see the file soon, rarely enough not to slow an
            # embedded worker, which shares this process (and its interpreter lock).
            time.sleep(0.05)
        pdf = client.get(state["download_url"]).data
        elapsed = time.perf_counter() - started
        assert pdf.startswith(b"%PDF-"), pdf[:20]
        if round_number:  # round 0 warms the worker (and, with Redis, waits for it to start)
            timings.append(elapsed)
    return timings


# --- the batch, in a child process ---------------------------------------------------------------


def run_batch_child(url: str, data_dir: Path, program_id: int, out: Path) -> dict:
    """Build the batch in a child process; its BatchStats, wall time and peak RSS (MB)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--batch-child",
        json.dumps({"url": url, "data_dir": str(data_dir), "program": program_id, "out": str(out)}),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=PROJECT_ROOT)
    output = child.stdout.read()
    # wait4 gives this child's own resource usage (what RUSAGE_CHILDREN sums over all children).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stdout.close()
    if child.returncode:
        raise SystemExit(f"batch child failed ({child.returncode})")
    stats = json.loads(output.decode().strip().splitlines()[-1])
    stats["process_s"] = time.perf_counter() - started
    stats["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return stats


def batch_child(arguments: str) -> None:
    """In the child: warm up like a worker does, build the batch, print its BatchStats as JSON."""
    from dataclasses import asdict

    from workflow import queue
    from workflow.batch import build_batch_file

    options = json.loads(arguments)
    app = create_app(app_config(options["url"], Path(options["data_dir"]), None, "bench"))
    with app.app_context():
        queue.warm_up()  # what `flask worker` does before it takes jobs
        stats = build_batch_file(options["program"], Path(options["out"]))
        print(json.dumps(asdict(stats), default=str))


def change_one_declaration(program_id: int) -> None:
    """One declaration's data changes (a corrected contact number), as between two builds."""
    decl = db.session.scalars(
        select(Declaration).where(Declaration.program_id == program_id).order_by(Declaration.id)
    ).first()
    decl.project.contact_mobile = "13912340000"
    db.session.commit()


# --- the run -------------------------------------------------------------------------------------


def main() -> None:
    """Build the data, measure, print the table and the six figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds after warm-up")
    parser.add_argument("--declarations", type=int, default=100, help="declarations in the batch")
    parser.add_argument("--batch-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_child:
        batch_child(args.batch_child)
        return

    path = subsetting_path()
    print(f"WeasyPrint font subsetting: {path}", flush=True)
    if path != "harfbuzz":
        print("HarfBuzz subsetting (libharfbuzz-subset >= 4.1) is missing: no figures reported.")
        sys.exit(2)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: nothing to compare with, no figures reported.")
        sys.exit(2)

    redis_url = os.environ.get("REDIS_URL") or None
    queue_name = f"bench-dossiers-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as folder:
        data_dir = Path(folder)
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'bench.db'}"
        app = create_app(app_config(url, data_dir, redis_url, queue_name))
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            started = time.perf_counter()
            load_demo()
            db.session.commit()
            pdf = attachment_pdf()
            decl_id = make_long_declaration(pdf)
            program_id = make_batch_program(args.declarations, pdf, photo())
            print(
                f"data: demo + 1 long + {args.declarations} batch declarations "
                f"in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            html = dossier_html(dossier_data(db.session.get(Declaration, decl_id)))

        print("batch: full build ...", flush=True)
        out = data_dir / "batch.pdf"
        full = run_batch_child(url, data_dir, program_id, out)
        with app.app_context():
            change_one_declaration(program_id)
        print("batch: rebuild after one change ...", flush=True)
        regen = run_batch_child(url, data_dir, program_id, out)

        print("single dossier: WeasyPrint and Chromium, same HTML ...", flush=True)
        render = bench_render(html, args.rounds)

        worker = None
        if redis_url:
            worker = start_worker(url, data_dir, redis_url, queue_name)
        try:
            print(
                f"click to file ({'flask worker on Redis' if worker else 'embedded worker'}) ...",
                flush=True,
            )
            clicks = click_to_file(app, decl_id, args.rounds)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
        with app.app_context():
            if redis_url:  # leave no queue of ours behind on a shared Redis
                dossier_queue().delete(delete_jobs=True)
            db.engine.dispose()

    ratio = render["weasyprint_s"] / render["chromium_s"]
    size_ratio = render["weasyprint_bytes"] / render["chromium_bytes"]
    speedup = full["seconds"] / regen["seconds"]
    peak = max(full["peak_rss_mb"], regen["peak_rss_mb"])
    ours_kb, theirs_kb = render["weasyprint_bytes"] / 1024, render["chromium_bytes"] / 1024
    click_runs = " ".join(f"{t:.2f}" for t in clicks)
    rows = [
        (
            "single dossier pages (WeasyPrint / Chromium)",
            f"{render['weasyprint_pages']} / {render['chromium_pages']}",
        ),
        ("WeasyPrint render, warm, median", f"{render['weasyprint_s']:.3f} s"),
        (
            f"Chromium {render['chromium_version']} print, warm, median",
            f"{render['chromium_s']:.3f} s",
        ),
        ("  WeasyPrint runs", " ".join(f"{t:.3f}" for t in render["weasyprint_all"])),
        ("  Chromium runs", " ".join(f"{t:.3f}" for t in render["chromium_all"])),
        ("PDF size WeasyPrint / Chromium", f"{ours_kb:.0f} KB / {theirs_kb:.0f} KB"),
        ("click to file, median (runs)", f"{statistics.median(clicks):.3f} s ({click_runs})"),
        ("batch declarations / pages", f"{full['declaration_count']} / {full['pages']}"),
        (
            "batch full build (sections rendered)",
            f"{full['seconds']:.1f} s ({full['sections_rendered']}); "
            f"whole process {full['process_s']:.1f} s",
        ),
        (
            "batch after one change (rendered / cached)",
            f"{regen['seconds']:.2f} s ({regen['sections_rendered']} / "
            f"{regen['sections_cached']}); "
            f"whole process {regen['process_s']:.1f} s",
        ),
        ("batch size", f"{full['size'] / 1024 / 1024:.1f} MB"),
        (
            "batch worker peak RSS full / rebuild",
            f"{full['peak_rss_mb']:.0f} MB / {regen['peak_rss_mb']:.0f} MB",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    if full["pages"] < BATCH_MIN_PAGES:
        print(f"note: the batch has fewer than {BATCH_MIN_PAGES} pages; raise --declarations")
    print()
    values = (ratio, statistics.median(clicks), full["seconds"], speedup, peak, size_ratio)
    for name, value in zip(FIGURES, values, strict=True):
        print(f"{name} {value:.3f}" if name != "batch_peak_rss_mb" else f"{name} {value:.0f}")


if __name__ == "__main__":
    main()
