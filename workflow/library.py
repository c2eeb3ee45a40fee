"""The project library (项目库): the one query behind its page and its export."""

from collections.abc import Mapping

from sqlalchemy import Select, or_, select

from . import vocab
from .models import Declaration, Project, User
from .permissions import scope_projects


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
