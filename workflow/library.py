"""The project library (项目库): the one query behind its page and its export."""

from collections.abc import Mapping

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from . import vocab
from .extensions import db
from .models import Declaration, Project, User
from .paging import ListPage, page_number
from .permissions import scope_projects

# A text search counts its matches only up to this many. A city-wide search for a common
# two-character term (数据, 平台) matches tens of thousands of projects; counting them exactly
# costs more than finding the page, and nobody pages through more than this — they narrow the
# search instead. Lists without a search term keep their exact total.
SEARCH_COUNT_CAP = 1000


def library_page(args: Mapping[str, str], user: User, *, per_page: int) -> ListPage:
    """The page of the library the request asks for (``page``), newest change first."""
    page = page_number(args)
    query = library_query(args, user)
    ids = query.with_only_columns(Project.id).order_by(None)
    searching = bool((args.get("q") or "").strip())
    if searching:
        ids = ids.limit(SEARCH_COUNT_CAP + 1)
    counted = db.session.scalar(select(func.count()).select_from(ids.subquery()))
    capped = searching and counted > SEARCH_COUNT_CAP
    total = min(counted, SEARCH_COUNT_CAP) if searching else counted
    items = db.session.scalars(
        query.options(joinedload(Project.district)).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return ListPage(list(items), page, per_page, total, capped)


def library_query(args: Mapping[str, str], user: User) -> Select:
    """The library's filters (district, category, maturity, stage, q) over what the user sees.

    The same filters as the library page, so "导出" exports exactly the list on the screen.
    """
    query = scope_projects(select(Project), user)
    district = (args.get("district") or "").strip()
    if district.isdigit() and not user.is_district_user:
        query = query.where(Project.district_id == int(district))
    category = (args.get("category") or "").strip()
    if category in vocab.CATEGORIES:
        query = query.where(Project.category == category)
    maturity = (args.get("maturity") or "").strip()
    if maturity in vocab.MATURITIES:
        query = query.where(Project.maturity == maturity)
    stage = (args.get("stage") or "").strip()
    if stage in vocab.STAGES:
        query = query.where(
            Project.id.in_(select(Declaration.project_id).where(Declaration.stage == stage))
        )
    text = (args.get("q") or "").strip()
    if text:
        pattern = f"%{text}%"
        query = query.where(
            or_(
                Project.name.ilike(pattern),
                Project.applicant_unit.ilike(pattern),
                Project.content.ilike(pattern),
                Project.code.ilike(pattern),
            )
        )
    return query.order_by(Project.updated_at.desc(), Project.id.desc())
