"""Operator commands through `flask --app wsgi ...`, run with Flask's CLI runner."""

from pypdf import PdfReader
from sqlalchemy import func, select

from workflow import vocab
from workflow.extensions import db
from workflow.models import Declaration, District, FundingProgram, Project, User
from workflow.operations import workflow_context
from workflow.rules import missing_for_submission


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_a_complete_deployment_and_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = {m: count(m) for m in (District, User, FundingProgram, Project, Declaration)}
    assert counts[District] == 11
    assert counts[FundingProgram] >= 3
    assert counts[Project] >= 30
    assert {u.role for u in db.session.scalars(select(User))} == set(vocab.ROLES)
    stages = set(db.session.scalars(select(Declaration.stage)))
    assert {
        "draft",
        "district_review",
        "city_review",
        "recommended",
        "approved",
        "returned",
        "not_recommended",
        "not_approved",
        "withdrawn",
    } <= stages
    districts = db.session.scalars(select(Project.district_id).distinct()).all()
    assert len(districts) >= 5
    # A new user can submit the demo drafts as they are.
    context = workflow_context()
    for draft in db.session.scalars(select(Declaration).where(Declaration.stage == "draft")):
        assert missing_for_submission(draft, context.city_code, context.today) == []

    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert {m: count(m) for m in counts} == counts
    assert "Demo@2026" in second.output


def test_users_create_hashes_the_password_and_checks_the_district(app, make_district):
    make_district("320903", "盐都区")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "wang",
            "--role",
            "district_staff",
            "--district",
            "320903",
            "--name",
            "王芳",
            "--password",
            "S3cret!pass",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "wang"))
    assert user.district.name == "盐都区"
    assert user.password_hash != "S3cret!pass" and user.check_password("S3cret!pass")

    missing = runner.invoke(
        args=["users", "create", "li", "--role", "district_reviewer", "--password", "x"]
    )
    assert missing.exit_code != 0 and "区县角色必须" in missing.output
    again = runner.invoke(args=["users", "create", "wang", "--role", "manager", "--password", "x"])
    assert again.exit_code != 0 and "已存在" in again.output


def test_dossier_render_writes_pdf_and_html(app, world, make_project, make_declaration, tmp_path):
    project = make_project(world.yandu, name="东台市智慧农业数据平台")
    decl = make_declaration(project, world.program, by=world.staff)
    out, html = tmp_path / "out.pdf", tmp_path / "out.html"
    result = app.test_cli_runner().invoke(
        args=["dossier", "render", str(decl.id), "-o", str(out), "--html", str(html)]
    )
    assert result.exit_code == 0, result.output
    reader = PdfReader(out)
    assert "东台市智慧农业数据平台" in reader.pages[0].extract_text()
    assert "草稿" in reader.pages[1].extract_text()  # not submitted yet
    assert "东台市智慧农业数据平台" in html.read_text(encoding="utf-8")

    unknown = app.test_cli_runner().invoke(args=["dossier", "render", "9999", "-o", str(out)])
    assert unknown.exit_code != 0 and "不存在" in unknown.output


def test_workflow_diagram_is_mermaid_of_the_running_table(app):
    from workflow import machine

    result = app.test_cli_runner().invoke(
        args=["workflow", "diagram", "--name", "joint_signoff", "--current", "joint_signoff"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("stateDiagram-v2")
    for step in machine.latest("joint_signoff").steps:
        for source in step.sources:
            assert f"{source} --> {step.dest} : {step.label}" in result.output
    assert "class joint_signoff current" in result.output
    unknown = app.test_cli_runner().invoke(args=["workflow", "diagram", "--name", "nope"])
    assert unknown.exit_code != 0 and "不存在" in unknown.output


def test_worker_refuses_to_start_without_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output


def test_districts_load_adds_and_renames(app, tmp_path):
    path = tmp_path / "city.json"
    path.write_text('{"districts": [{"code": "310101", "name": "黄浦区"}]}', encoding="utf-8")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["districts", "load", str(path)]).exit_code == 0
    path.write_text('{"districts": [{"code": "310101", "name": "黄浦"}]}', encoding="utf-8")
    assert runner.invoke(args=["districts", "load", str(path)]).exit_code == 0
    assert [d.name for d in db.session.scalars(select(District))] == ["黄浦"]
