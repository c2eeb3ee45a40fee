"""The 四率 statistics page and each project's money funnel (资金链条)."""

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from .. import figures, vocab
from ..permissions import CITY_WIDE_ROLES, project_or_404
from . import as_of_date

bp = Blueprint("figures", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.route("/figures")
def index():
    """The four rates grouped by district, program, channel or year, as of a date."""
    if not current_user.is_district_user and current_user.role not in CITY_WIDE_ROLES:
        abort(404)
    by = request.args.get("by", "district")
    if by not in figures.GROUPINGS:
        by = "district"
    as_of, date_error = as_of_date()
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
    as_of, date_error = as_of_date()
    return render_template(
        "figures/funnel.html",
        funnel=figures.project_funnel(project, as_of),
        project=project,
        channels=vocab.CHANNELS,
        as_of=as_of,
        error=date_error,
    )
