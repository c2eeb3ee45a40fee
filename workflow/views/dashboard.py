"""The dashboard (数据看板): counts, money, the four rates and what is overdue, with charts."""

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import figures
from ..dashboard import ALERTS, MONEY, STAGE_GROUPS, dashboard_charts, dashboard_data
from ..extensions import db
from ..models import District
from ..permissions import CITY_WIDE_ROLES
from . import as_of_date

bp = Blueprint("dashboard", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user."""


@bp.route("/dashboard")
def index():
    """District users see their district; the city sees every district or picks one."""
    if current_user.is_district_user:
        district_id, districts = current_user.district_id, []
    elif current_user.role in CITY_WIDE_ROLES:
        districts = db.session.scalars(
            select(District).order_by(District.sort_order, District.code, District.id)
        ).all()
        raw = request.args.get("district", "")
        # An unknown district is no error worth a page: the whole city is shown instead.
        district_id = next((d.id for d in districts if raw.isdigit() and d.id == int(raw)), None)
    else:
        abort(404)
    as_of, date_error = as_of_date()
    data = dashboard_data(as_of, district_id=district_id)
    return render_template(
        "dashboard/index.html",
        d=data,
        charts=dashboard_charts(data),
        districts=districts,
        rate_names=figures.RATES,
        money_names=MONEY,
        alert_names=ALERTS,
        stage_groups=STAGE_GROUPS,
        error=date_error,
    )
