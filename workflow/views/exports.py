"""Excel in and out: the library list, a program's 汇总表, the import template and the import."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from documents import excel as sheets
from forms.project import ProjectImportForm

from .. import excel, vocab
from ..extensions import db
from ..models import FundingProgram
from ..operations import local_today
from . import attachment_disposition

bp = Blueprint("exports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.before_request
@login_required
def _signed_in():
    """Every export and the import need a signed-in user."""


def xlsx_response(content: bytes, name: str, fallback: str) -> Response:
    """A workbook download under a (Chinese) name, never cached."""
    response = Response(content, mimetype=XLSX)
    response.headers["Content-Disposition"] = attachment_disposition(name, fallback)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/projects/export.xlsx")
def library():
    """The library with the page's current filters, limited to what the user may see."""
    rows = excel.library_rows(request.args, current_user)
    stamp = local_today().strftime("%Y%m%d")
    return xlsx_response(
        sheets.library_workbook(rows), f"项目库-{stamp}.xlsx", f"projects-{stamp}.xlsx"
    )


@bp.route("/programs/<int:program_id>/summary.xlsx")
def program_summary(program_id: int):
    """The program's 汇总表: declarations from city review on, in the user's scope."""
    program = db.session.get(FundingProgram, program_id) or abort(404)
    rows = excel.summary_rows(program, current_user)
    content = sheets.summary_workbook(excel.program_facts(program, local_today()), rows)
    return xlsx_response(content, f"{program.title}-项目汇总表.xlsx", f"summary-{program.id}.xlsx")


@bp.route("/projects/import-template.xlsx")
def import_template():
    """The blank sheet districts fill in to import projects."""
    content = sheets.import_template_workbook(
        categories=vocab.CATEGORIES.values(), natures=vocab.NATURES.values()
    )
    return xlsx_response(content, "项目导入模板.xlsx", "project-import-template.xlsx")


@bp.route("/projects/import", methods=["GET", "POST"])
def import_projects():
    """Upload a filled-in template: every project is created, or none and the page says why."""
    if current_user.role != "district_staff":
        abort(403, "只有区县填报员可以导入项目")
    form = ProjectImportForm()
    errors: list[excel.RowError] = []
    if form.validate_on_submit():
        result = excel.import_projects(form.file.data.read(), actor=current_user)
        if not result.errors:
            db.session.commit()
            flash(f"已导入 {len(result.projects)} 个项目", "success")
            return redirect(url_for("projects.index"))
        db.session.rollback()
        errors = result.errors
    status = 422 if errors or form.errors else 200
    return render_template("projects/import.html", form=form, errors=errors), status
