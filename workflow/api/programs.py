"""Funding programs, read-only for every signed-in role."""

from sqlalchemy import select

from ..extensions import db
from ..models import FundingProgram
from . import bp, responses, spec
from .errors import error_response
from .schemas import ProgramList, ProgramOut


def program_out(program: FundingProgram) -> ProgramOut:
    """The API's view of a program."""
    return ProgramOut.model_validate(program, from_attributes=True)


@bp.get("/programs")
@spec.validate(resp=responses("HTTP_200", ProgramList), tags=["programs"])
def list_programs():
    """Every funding program, newest first."""
    programs = db.session.scalars(
        select(FundingProgram).order_by(FundingProgram.year.desc(), FundingProgram.id.desc())
    ).all()
    return ProgramList(items=[program_out(p) for p in programs], total=len(programs))


@bp.get("/programs/<int:program_id>")
@spec.validate(resp=responses("HTTP_200", ProgramOut, 404), tags=["programs"])
def get_program(program_id: int):
    """One program: its windows, limits, required attachments and form fields."""
    program = db.session.get(FundingProgram, program_id)
    if program is None:
        return error_response(404, "not_found", "申报批次不存在")
    return program_out(program)
