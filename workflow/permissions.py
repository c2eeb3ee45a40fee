"""Who sees what. A district user never learns that another district's object exists: 404."""

from flask import abort
from sqlalchemy import Select, false, select

from .extensions import db
from .models import Attachment, Declaration, Dossier, Project, User

CITY_WIDE_ROLES = frozenset({"city_reviewer", "manager", "admin"})


def scope_projects(query: Select, user: User) -> Select:
    """Limit a query over Project to what the user may see."""
    if user.is_district_user:
        return query.where(Project.district_id == user.district_id)
    if user.role in CITY_WIDE_ROLES:
        return query
    # Experts see only declarations assigned to them, which this query does not cover.
    return query.where(false())


def scope_declarations(query: Select, user: User) -> Select:
    """Limit a query over Declaration (joined to Project) to what the user may see."""
    return scope_projects(query.join(Project, Declaration.project_id == Project.id), user)


def _visible_or_404(obj, user: User, district_id: int | None):
    if obj is None:
        abort(404)
    if user.is_district_user and district_id != user.district_id:
        abort(404)
    if not user.is_district_user and user.role not in CITY_WIDE_ROLES:
        abort(404)
    return obj


def project_or_404(project_id: int, user: User) -> Project:
    """The project if the user may see it, else 404."""
    project = db.session.get(Project, project_id)
    return _visible_or_404(project, user, project.district_id if project else None)


def declaration_or_404(declaration_id: int, user: User) -> Declaration:
    """The declaration if the user may see it, else 404."""
    decl = db.session.get(Declaration, declaration_id)
    return _visible_or_404(decl, user, decl.project.district_id if decl else None)


def attachment_or_404(attachment_id: int, user: User) -> Attachment:
    """The attachment if the user may see its declaration, else 404."""
    att = db.session.get(Attachment, attachment_id)
    return _visible_or_404(att, user, att.declaration.project.district_id if att else None)


def dossier_or_404(dossier_id: int, user: User) -> Dossier:
    """The dossier if the user may see its declaration, else 404."""
    dossier = db.session.get(Dossier, dossier_id)
    return _visible_or_404(
        dossier, user, dossier.declaration.project.district_id if dossier else None
    )


def visible_declarations(user: User) -> Select:
    """A query of every declaration the user may see."""
    return scope_declarations(select(Declaration), user)
