"""scripts/api_journey.py against a live server on the demo data: draft to downloaded dossier."""

import importlib.util
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pypdf import PdfReader
from werkzeug.serving import make_server

from workflow.demo import DEMO_PASSWORD

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "api_journey.py"


def load_script():
    """The script as a module (it lives outside the packages), for its list of operations."""
    spec = importlib.util.spec_from_file_location("api_journey", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def routed_operations(app) -> set[tuple[str, str]]:
    """(method, OpenAPI-style path) of every route: ``<int:id>`` becomes ``{id}``."""
    return {
        (method.lower(), re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }


@pytest.fixture
def app_config(app_config):
    """The embedded worker thread renders the dossier while the script waits for it."""
    return {**app_config, "EMBEDDED_WORKER": True}


@pytest.fixture
def live_server(app):
    """The app with the demo data, served over HTTP on a free local port."""
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The script as a user runs it: its own process, only the standard library."""
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_script_takes_a_declaration_to_a_downloaded_dossier(app, live_server, tmp_path):
    missing = set(load_script().NEEDED) - routed_operations(app)
    assert not missing, f"API operations the script needs are not routed yet: {sorted(missing)}"
    out = tmp_path / "dossier.pdf"
    result = run_script(
        "--base-url",
        live_server,
        "--staff",
        "yd_staff",
        "--district-reviewer",
        "yd_reviewer",
        "--city-reviewer",
        "city_reviewer",
        "--manager",
        "manager",
        "--password",
        DEMO_PASSWORD,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SURPRISE" not in result.stdout + result.stderr
    for bad in ("→ 401", "→ 403", "→ 409", "→ 422"):
        assert bad in result.stdout  # each bad request was tried and answered as documented
    assert len(PdfReader(out).pages) >= 1


def test_the_script_stops_with_a_non_zero_status_on_a_surprise(live_server, tmp_path):
    # A wrong password for every user: the first token request that must succeed fails.
    folder = tmp_path / "run"
    folder.mkdir()
    result = run_script("--base-url", live_server, "--password", "not-the-password", cwd=folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SURPRISE" in result.stderr and "401" in result.stderr
    assert list(folder.iterdir()) == []  # no dossier.pdf (the default --out) written


def test_the_script_says_when_the_server_cannot_be_reached(tmp_path):
    server = make_server("127.0.0.1", 0, lambda environ, start: [])
    port = server.server_port
    server.server_close()  # a port that was free a moment ago and has no one listening now
    result = run_script("--base-url", f"http://127.0.0.1:{port}", "--password", "x", cwd=tmp_path)
    assert result.returncode == 2 and "cannot reach" in result.stderr
