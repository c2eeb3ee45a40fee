"""Builders of valid domain objects for tests; each commits and returns what it made."""

import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pypdf import PdfWriter
from stdnum.cn import uscc

from workflow import operations
from workflow.extensions import db
from workflow.models import Declaration, District, FundingProgram, Prerequisite, Project, User

PASSWORD = "Test@2026-pass"
_counter = iter(range(1, 10**9))


def district(code: str = "320903", name: str = "盐都区") -> District:
    """A district (idempotent on its code)."""
    found = db.session.query(District).filter_by(code=code).one_or_none()
    if found:
        return found
    row = District(code=code, name=name, is_admin_division=code.isdigit())
    db.session.add(row)
    db.session.commit()
    return row


def user(
    role: str, district: District | None = None, *, username: str | None = None, active: bool = True
) -> User:
    """A user of the given role with the test password."""
    n = next(_counter)
    row = User(
        username=username or f"{role}{n}",
        display_name=f"测试{role}{n}",
        role=role,
        district=district,
        active=active,
    )
    row.set_password(PASSWORD)
    db.session.add(row)
    db.session.commit()
    return row


def program(**overrides) -> FundingProgram:
    """An open program whose window contains today."""
    today = operations.local_today()
    values = dict(
        title=f"测试批次{next(_counter)}",
        level="national",
        issuer="国家发展改革委",
        channel="central_budget",
        year=today.year,
        batch="第一批",
        support_areas="数字经济",
        notice="申报通知",
        opens_on=today - timedelta(days=10),
        district_deadline=today + timedelta(days=10),
        city_deadline=today + timedelta(days=20),
        upstream_deadline=today + timedelta(days=30),
        min_request=Decimal("10"),
        max_request=Decimal("1000"),
        max_ratio=Decimal("0.5"),
        required_attachments=["application"],
        required_prerequisites=["feasibility_approval"],
        form_fields=[
            {
                "name": "necessity",
                "label": "项目建设必要性",
                "kind": "textarea",
                "required": True,
                "max_length": 3000,
            }
        ],
        status="open",
    )
    values.update(overrides)
    row = FundingProgram(**values)
    db.session.add(row)
    db.session.commit()
    return row


def credit_code(seed: int = 1) -> str:
    """A valid 统一社会信用代码."""
    body = f"91320903MA{seed:07d}"
    return body + uscc.calc_check_digit(body)


def project(district: District, **overrides) -> Project:
    """A complete project with a valid code, credit code and feasibility approval."""
    n = next(_counter)
    region = district.code if district.code.isdigit() else "320900"
    values = dict(
        code=f"2025-{region}-65-01-{n % 1000000:06d}",
        # A digest keeps names of neighbouring numbers apart for the overlap guard (≥ 90 similar
        # names in one district warn), as real projects' names are.
        name=f"测试项目{n}-{hashlib.sha256(str(n).encode()).hexdigest()[:10]}",
        district=district,
        applicant_unit="盐城测试科技有限公司",
        applicant_uscc=credit_code(n),
        category="digital_economy",
        industry_chain="数据产业",
        nature="new",
        location="盐都区",
        planned_start=date(2026, 3, 1),
        planned_end=date(2027, 12, 1),
        total_investment=Decimal("1000.00"),
        fund_central=Decimal("300.00"),
        fund_local_fiscal=Decimal("200.00"),
        fund_self=Decimal("500.00"),
        content="建设内容",
        data_content="含数量",
        maturity="reserve",
        contact_name="王磊",
        contact_mobile="13912345678",
    )
    values.update(overrides)
    row = Project(**values)
    row.prerequisites = [
        Prerequisite(
            kind="feasibility_approval",
            doc_number="盐发改〔2025〕1号",
            issued_on=date(2025, 1, 1),
            valid_until=date(2030, 12, 31),
        )
    ]
    db.session.add(row)
    db.session.commit()
    return row


def pdf_bytes() -> bytes:
    """A tiny valid PDF."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def declaration(project: Project, program: FundingProgram, *, by: User, **overrides) -> Declaration:
    """A complete draft declaration with the program's required attachments."""
    values = {
        "requested_amount": Decimal("300.00"),
        "form_data": {f["name"]: "已填写" for f in program.form_fields},
    }
    reason = overrides.pop("overlap_reason", None)
    values.update(overrides)
    decl = operations.create_declaration(project, program, values, actor=by, overlap_reason=reason)
    for kind in program.required_attachments:
        operations.add_attachment(
            decl, kind=kind, filename=f"{kind}.pdf", content=pdf_bytes(), actor=by
        )
    db.session.commit()
    return decl


@dataclass
class World:
    """A small deployment: two districts and someone in every role."""

    yandu: District
    tinghu: District
    staff: User
    reviewer: User
    other_staff: User
    other_reviewer: User
    city: User
    manager: User
    expert: User
    admin: User
    program: FundingProgram

    def users(self) -> dict[str, User]:
        """One user per role, in the first district where the role has one."""
        return {
            "district_staff": self.staff,
            "district_reviewer": self.reviewer,
            "city_reviewer": self.city,
            "manager": self.manager,
            "expert": self.expert,
            "admin": self.admin,
        }


def world() -> World:
    """Build the World."""
    yandu = district("320903", "盐都区")
    tinghu = district("320902", "亭湖区")
    return World(
        yandu=yandu,
        tinghu=tinghu,
        staff=user("district_staff", yandu),
        reviewer=user("district_reviewer", yandu),
        other_staff=user("district_staff", tinghu),
        other_reviewer=user("district_reviewer", tinghu),
        city=user("city_reviewer"),
        manager=user("manager"),
        expert=user("expert"),
        admin=user("admin"),
        program=program(),
    )


def act(decl: Declaration, trigger: str, actor: User, comment: str = "", **kwargs) -> Declaration:
    """Fire a workflow action as the actor and commit."""
    operations.act_on_declaration(
        decl, trigger, actor=actor, comment=comment, expected_version=decl.version, **kwargs
    )
    db.session.commit()
    return decl
