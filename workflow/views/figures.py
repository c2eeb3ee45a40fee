"""The 四率 statistics page and each project's money funnel (资金链条)."""

from datetime import date

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from .. import figures, vocab
from ..operations import local_today
from ..permissions import CITY_WIDE_ROLES, project_or_404

bp = Blueprint("figures", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


def _as_of() -> tuple[date, str | None]:
    """The as-of date from ``?on=YYYY-MM-DD`` (today when absent), and an error when unreadable."""
    raw = (request.args.get("on") or "").strip()
    if not raw:
        return local_today(), None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return (
            local_today(),
            f"统计日期「{raw}」格式不正确,应为 年-月-日(如 2026-06-30),已按今天统计。",
        )


@bp.route("/figures")
def index():
    """The four rates grouped by district, program, channel or year, as of a date."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)
    by = request.args.get("by", "district")
    if by not in figures.GROUPINGS:
        by = "district"
    as_of, date_error = _as_of()
    groups, total = figures.rates_by(by, as_of, user=current_user)
    return render_template(
        "figures/index.html",
        by=by,
        groupings=figures.GROUPINGS,
        rates=figures.RATES,
        groups=groups,
        total=total,
        as_of=as_of,
        error=date_error,
    )


@bp.route("/projects/<int:project_id>/funnel")
def funnel(project_id: int):
    """A project's money from total investment to payment, with the history behind it."""
    project = project_or_404(project_id, current_user)
    as_of, date_error = _as_of()
    return render_template(
        "figures/funnel.html",
        funnel=figures.project_funnel(project, as_of),
        project=project,
        channels=vocab.CHANNELS,
        as_of=as_of,
        error=date_error,
    )
