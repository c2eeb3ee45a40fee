"""The data model. Models answer questions about themselves; operations change them."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import vocab
from .extensions import db
from .types import ExactDecimal, Money, UTCDateTime, utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, values) -> CheckConstraint:
    """A check constraint that backs a code column with its vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_valid")


class District(db.Model):
    """A district (区县) or functional zone; loaded as data, so another city brings its own."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    # A national administrative code when there is one; functional zones have internal codes.
    is_admin_division: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<District {self.code} {self.name}>"


class User(UserMixin, db.Model):
    """A person who signs in; district roles are bound to one district."""

    __tablename__ = "users"
    __table_args__ = (
        _one_of("role", vocab.ROLES),
        CheckConstraint(
            "role NOT IN ('district_staff', 'district_reviewer') OR district_id IS NOT NULL",
            name="district_role_has_district",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    # The unit an expert works for; expert review keeps experts away from their own unit.
    organization: Mapped[str] = mapped_column(String(200), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    district: Mapped[District | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of disabled users
        return self.active

    @property
    def is_district_user(self) -> bool:
        """Whether this user only sees one district."""
        return self.role in vocab.DISTRICT_ROLES

    @property
    def role_label(self) -> str:
        return vocab.label(vocab.ROLES, self.role)

    def set_password(self, password: str) -> None:
        """Store a salted hash, never the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def is_usable(self, now: datetime) -> bool:
        """Whether the token still authenticates: not revoked, not expired, user active."""
        return self.revoked_at is None and now < self.expires_at and self.user.active


class FundingProgram(db.Model):
    """One upstream funding opportunity (政策资金项目 / 申报批次)."""

    __tablename__ = "funding_programs"
    __table_args__ = (
        _one_of("level", vocab.LEVELS),
        _one_of("channel", vocab.CHANNELS),
        _one_of("status", vocab.PROGRAM_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    batch: Mapped[str] = mapped_column(String(50), default="")
    support_areas: Mapped[str] = mapped_column(Text, default="")
    notice: Mapped[str] = mapped_column(Text, default="")
    opens_on: Mapped[date] = mapped_column(Date)
    district_deadline: Mapped[date] = mapped_column(Date)
    city_deadline: Mapped[date] = mapped_column(Date)
    upstream_deadline: Mapped[date | None] = mapped_column(Date)
    min_request: Mapped[Decimal | None] = mapped_column(Money())
    max_request: Mapped[Decimal | None] = mapped_column(Money())
    # Requested funds / total investment, as a fraction (0.30 = 30%).
    max_ratio: Mapped[Decimal | None] = mapped_column(ExactDecimal(6, 4))
    required_attachments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    required_prerequisites: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The program's own declaration form: [{"name", "label", "kind", "required", "max_length"}].
    form_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The workflow definition new declarations follow (workflow/data/workflows/); each
    # declaration keeps the version it started with.
    workflow_name: Mapped[str] = mapped_column(String(50), default="default")
    # Expert review's score sheet: [{"name", "label", "weight"}]; empty means the default one.
    score_criteria: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default="[]"
    )
    # Funded declarations report every this many months (1 monthly, 3 quarterly).
    report_period_months: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    @property
    def level_label(self) -> str:
        return vocab.label(vocab.LEVELS, self.level)

    @property
    def channel_label(self) -> str:
        return vocab.label(vocab.CHANNELS, self.channel)

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.PROGRAM_STATUSES, self.status)


class Project(db.Model):
    """A library entry (项目) that lives across years and programs."""

    __tablename__ = "projects"
    __table_args__ = (
        _one_of("category", vocab.CATEGORIES),
        _one_of("maturity", vocab.MATURITIES),
        CheckConstraint(
            "nature IS NULL OR nature IN ('new', 'expansion', 'renovation', 'continuation')",
            name="nature_valid",
        ),
        Index("ix_projects_district_maturity", "district_id", "maturity"),
        # The library lists newest change first, city-wide or within one district.
        Index("ix_projects_updated_at_id", "updated_at", "id"),
        Index("ix_projects_district_updated_at_id", "district_id", "updated_at", "id"),
        Index("ix_projects_category_updated_at_id", "category", "updated_at", "id"),
        # ILIKE '%term%' over these uses a trigram index on PostgreSQL (pg_trgm, migration 0004);
        # SQLite has no such index and skips them.
        *(
            Index(
                f"ix_projects_{column}_trgm",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("name", "applicant_unit", "content", "code")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(200))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    applicant_unit: Mapped[str] = mapped_column(String(200), default="")
    applicant_uscc: Mapped[str | None] = mapped_column(String(18))
    category: Mapped[str] = mapped_column(String(40))
    industry_chain: Mapped[str] = mapped_column(String(100), default="")
    nature: Mapped[str | None] = mapped_column(String(20))
    location: Mapped[str] = mapped_column(String(200), default="")
    planned_start: Mapped[date | None] = mapped_column(Date)
    planned_end: Mapped[date | None] = mapped_column(Date)
    total_investment: Mapped[Decimal | None] = mapped_column(Money())
    fund_central: Mapped[Decimal | None] = mapped_column(Money())
    fund_provincial: Mapped[Decimal | None] = mapped_column(Money())
    fund_local_fiscal: Mapped[Decimal | None] = mapped_column(Money())
    fund_self: Mapped[Decimal | None] = mapped_column(Money())
    fund_loan: Mapped[Decimal | None] = mapped_column(Money())
    fund_other: Mapped[Decimal | None] = mapped_column(Money())
    content: Mapped[str] = mapped_column(Text, default="")
    data_content: Mapped[str] = mapped_column(Text, default="")
    maturity: Mapped[str] = mapped_column(String(30), default="planning")
    removed_reason: Mapped[str | None] = mapped_column(Text)
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_mobile: Mapped[str] = mapped_column(String(11), default="")
    # Why the project was kept although the overlap guard found a similar one (workflow/overlap.py).
    overlap_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    district: Mapped[District] = relationship()
    prerequisites: Mapped[list["Prerequisite"]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Prerequisite.id"
    )
    declarations: Mapped[list["Declaration"]] = relationship(
        back_populates="project", order_by="Declaration.id"
    )
    reserve_entry: Mapped["ReserveEntry | None"] = relationship(back_populates="project")

    @property
    def category_label(self) -> str:
        return vocab.label(vocab.CATEGORIES, self.category)

    @property
    def maturity_label(self) -> str:
        return vocab.label(vocab.MATURITIES, self.maturity)

    @property
    def nature_label(self) -> str:
        return vocab.label(vocab.NATURES, self.nature)

    @property
    def is_under_review(self) -> bool:
        """Whether a declaration of this project sits with reviewers (its data is then frozen)."""
        return any(
            d.stage not in vocab.EDITABLE_STAGES and d.stage not in vocab.FINAL_STAGES
            for d in self.declarations
        )

    def funding_sources(self) -> dict[str, Decimal | None]:
        """Each funding source field with its amount."""
        return {name: getattr(self, name) for name in vocab.FUND_SOURCES}

    def funding_sum(self) -> Decimal:
        """The funding sources added up, blanks as zero."""
        return sum((v or Decimal(0) for v in self.funding_sources().values()), Decimal(0))


class Prerequisite(db.Model):
    """A preliminary approval document (前期要件) of a project."""

    __tablename__ = "prerequisites"
    __table_args__ = (_one_of("kind", vocab.PREREQUISITE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    doc_number: Mapped[str] = mapped_column(String(100))
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # None: no expiry

    project: Mapped[Project] = relationship(back_populates="prerequisites")

    @property
    def kind_label(self) -> str:
        return vocab.label(vocab.PREREQUISITE_KINDS, self.kind)


class Declaration(db.Model):
    """One project applying to one program (申报); its stage moves only through the machine."""

    __tablename__ = "declarations"
    __table_args__ = (
        _one_of("stage", vocab.STAGES),
        Index("ix_declarations_program_stage", "program_id", "stage"),
        # One live declaration per project and program; a withdrawn one may be declared anew.
        Index(
            "uq_declarations_active_project_program",
            "project_id",
            "program_id",
            unique=True,
            postgresql_where=text("stage <> 'withdrawn'"),
            sqlite_where=text("stage <> 'withdrawn'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("funding_programs.id"))
    requested_amount: Mapped[Decimal | None] = mapped_column(Money())
    form_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    stage: Mapped[str] = mapped_column(String(30), default="draft", index=True)
    # The workflow definition and version this declaration started with, for its whole life.
    workflow_name: Mapped[str] = mapped_column(
        String(50), default="default", server_default="default"
    )
    workflow_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # When the current stage began and when its work is due (Chinese working days).
    stage_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage_due_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The upstream result (批复), recorded by the city.
    approval_doc_number: Mapped[str | None] = mapped_column(String(100))
    approved_amount: Mapped[Decimal | None] = mapped_column(Money())
    approved_on: Mapped[date | None] = mapped_column(Date)
    # The fund channel the upstream money was issued through (may differ from the program's).
    approved_channel: Mapped[str | None] = mapped_column(String(40))
    # A re-declaration starts from an earlier declaration of the same project (workflow/reserve.py).
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("declarations.id"))
    # Why it was declared although the overlap guard warned (workflow/overlap.py).
    overlap_reason: Mapped[str | None] = mapped_column(Text)

    __mapper_args__ = {"version_id_col": version}

    project: Mapped[Project] = relationship(back_populates="declarations")
    program: Mapped[FundingProgram] = relationship()
    previous: Mapped["Declaration | None"] = relationship(remote_side=[id])
    created_by: Mapped[User | None] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="declaration", order_by="Attachment.id"
    )
    opinions: Mapped[list["ReviewOpinion"]] = relationship(
        back_populates="declaration", order_by="ReviewOpinion.id"
    )

    @property
    def stage_label(self) -> str:
        return vocab.label(vocab.STAGES, self.stage)

    @property
    def is_editable(self) -> bool:
        """Whether the applicant may still change the content."""
        return self.stage in vocab.EDITABLE_STAGES

    @property
    def district_id(self) -> int:
        return self.project.district_id


class ReviewOpinion(db.Model):
    """A reviewer's opinion (审核意见) given with a workflow action."""

    __tablename__ = "review_opinions"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    stage: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The reviewer the opinion was given for, when a delegate acted in their place (代理).
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    declaration: Mapped[Declaration] = relationship(back_populates="opinions")
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])

    @property
    def stage_label(self) -> str:
        return vocab.label(vocab.STAGES, self.stage)

    @property
    def action_label(self) -> str:
        return vocab.ACTIONS.get(self.action) or vocab.label(vocab.AUDIT_ACTIONS, self.action)


class StoredFile:
    """The columns of an uploaded file kept under a generated name and shown under its own.

    ``operations.stored_file`` fills them; attachments, report photos and rectification evidence
    share them.
    """

    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(StoredFile, db.Model):
    """An uploaded file; stored under a generated name, shown under its original one."""

    __tablename__ = "attachments"
    __table_args__ = (_one_of("kind", vocab.ATTACHMENT_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))

    declaration: Mapped[Declaration] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User] = relationship()

    @property
    def kind_label(self) -> str:
        return vocab.label(vocab.ATTACHMENT_KINDS, self.kind)


class Dossier(db.Model):
    """A PDF dossier (申报材料) of one declaration, tied to the data versions it was made from."""

    __tablename__ = "dossiers"
    __table_args__ = (
        _one_of("status", vocab.DOSSIER_STATUSES),
        UniqueConstraint(
            "declaration_id",
            "declaration_version",
            "project_version",
            name="uq_dossier_data_version",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    declaration_version: Mapped[int] = mapped_column(Integer)
    project_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    job_id: Mapped[str] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    # The SHA-256 of the data printed (its short form is in every page's footer) and of the file
    # made, so an uploaded copy can be told current, outdated or unknown.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    declaration: Mapped[Declaration] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.DOSSIER_STATUSES, self.status)

    @property
    def is_current(self) -> bool:
        """Whether the data has not changed since this dossier was requested."""
        decl = self.declaration
        return (
            self.declaration_version == decl.version
            and self.project_version == decl.project.version
        )


class BatchDossier(db.Model):
    """A program's batch dossier (批量申报材料): cover, 汇总表, every recommended declaration's
    section with its attachments merged in, and a manifest.

    ``fingerprint`` is the SHA-256 of everything printed (each section's hash, the summary and
    the attachments' hashes): a request for the same program and fingerprint joins the batch
    already made or being made; a batch whose program's data has moved on since is outdated.
    """

    __tablename__ = "batch_dossiers"
    __table_args__ = (
        _one_of("status", vocab.DOSSIER_STATUSES),
        UniqueConstraint("program_id", "fingerprint", name="uq_batch_dossier_data"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("funding_programs.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    job_id: Mapped[str] = mapped_column(String(100))
    # Steps done of batch.progress_steps(): sections rendered (or found cached), then merged.
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    declaration_count: Mapped[int] = mapped_column(Integer, default=0)
    sections_rendered: Mapped[int | None] = mapped_column(Integer)  # cache misses of the last run
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(120))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the running job last moved on: a page can tell a slow step from a lost worker.
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    program: Mapped[FundingProgram] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.DOSSIER_STATUSES, self.status)


class StageSignature(db.Model):
    """One signer's 同意 in a countersign stage (会签); voided when the stage is sent back."""

    __tablename__ = "stage_signatures"
    __table_args__ = (Index("ix_stage_signatures_declaration_stage", "declaration_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"))
    stage: Mapped[str] = mapped_column(String(30))
    # Whose seat the signature fills, and who clicked (a delegate signs in the signer's seat).
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    declaration: Mapped[Declaration] = relationship()
    signer: Mapped[User] = relationship(foreign_keys=[signer_id])
    acted_by: Mapped[User] = relationship(foreign_keys=[acted_by_id])


class Delegation(db.Model):
    """A reviewer hands their tasks to another user of the same role for a period (代理)."""

    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="delegation_period_valid"),
        CheckConstraint("delegator_id <> delegate_id", name="delegation_to_someone_else"),
        Index("ix_delegations_delegate_period", "delegate_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # inclusive; the delegation ends by itself
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # ended early by hand

    delegator: Mapped[User] = relationship(foreign_keys=[delegator_id])
    delegate: Mapped[User] = relationship(foreign_keys=[delegate_id])

    def is_active_on(self, day: date) -> bool:
        """Whether the delegate may act for the delegator on that day."""
        return self.ended_at is None and self.starts_on <= day <= self.ends_on


class ExpertAssignment(db.Model):
    """The city asks one expert to score one declaration (专家评审)."""

    __tablename__ = "expert_assignments"
    __table_args__ = (Index("ix_expert_assignments_expert", "expert_id", "voided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A return for revision voids the round; the revised declaration is scored afresh.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    declaration: Mapped[Declaration] = relationship()
    expert: Mapped[User] = relationship(foreign_keys=[expert_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    score: Mapped["ExpertScore | None"] = relationship(back_populates="assignment")


class ExpertScore(db.Model):
    """An expert's score sheet for one assignment: a score per criterion, the weighted total."""

    __tablename__ = "expert_scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("expert_assignments.id"), unique=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total: Mapped[Decimal] = mapped_column(ExactDecimal(6, 2))
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assignment: Mapped[ExpertAssignment] = relationship(back_populates="score")


class TrackingReport(db.Model):
    """A funded declaration's report for one period (调度报告); figures are cumulative."""

    __tablename__ = "tracking_reports"
    __table_args__ = (
        _one_of("status", vocab.REPORT_STATUSES),
        # progress_percent's 0–100 is the validator's (workflow/tracking.py): SQLite stores the
        # decimal scaled by 100, so one CHECK could not speak for both backends.
        UniqueConstraint("declaration_id", "period", name="uq_tracking_report_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    period: Mapped[date] = mapped_column(Date)  # the first day of the month reported on
    actual_start_on: Mapped[date | None] = mapped_column(Date)
    progress_text: Mapped[str] = mapped_column(Text, default="")
    progress_percent: Mapped[Decimal | None] = mapped_column(ExactDecimal(5, 2))
    investment_completed: Mapped[Decimal | None] = mapped_column(Money())
    received_central: Mapped[Decimal | None] = mapped_column(Money())
    received_provincial: Mapped[Decimal | None] = mapped_column(Money())
    received_local: Mapped[Decimal | None] = mapped_column(Money())
    received_self: Mapped[Decimal | None] = mapped_column(Money())
    received_loan: Mapped[Decimal | None] = mapped_column(Money())
    received_other: Mapped[Decimal | None] = mapped_column(Money())
    payment_cumulative: Mapped[Decimal | None] = mapped_column(Money())
    problems: Mapped[str] = mapped_column(Text, default="")
    suggestions: Mapped[str] = mapped_column(Text, default="")
    # Why a cumulative figure went down since the last accepted report (a correction).
    correction_reason: Mapped[str | None] = mapped_column(Text)
    # Why payment exceeds funds received, or funds received exceed the amount issued.
    explanation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    declaration: Mapped[Declaration] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    photos: Mapped[list["ReportPhoto"]] = relationship(
        back_populates="report", order_by="ReportPhoto.id"
    )

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.REPORT_STATUSES, self.status)

    def funds_received(self) -> Decimal:
        """All funds received so far, blanks as zero."""
        return sum(
            (getattr(self, name) or Decimal(0) for name in vocab.RECEIVED_SOURCES), Decimal(0)
        )


class ReportPhoto(StoredFile, db.Model):
    """A site photo attached to a tracking report; stored under a generated name."""

    __tablename__ = "report_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("tracking_reports.id"), index=True)

    report: Mapped[TrackingReport] = relationship(back_populates="photos")


class WarningRule(db.Model):
    """A warning rule (预警规则): conditions over a funded declaration's measures, all must hold.

    ``conditions`` is a list of ``{"measure", "op", "value"}`` with measures from
    ``vocab.WARNING_MEASURES``, operators from ``vocab.WARNING_OPERATORS`` and the value a decimal
    string. The four rules of the domain ship with a ``code``; rules the city adds have none.
    """

    __tablename__ = "warning_rules"
    __table_args__ = (_one_of("level", vocab.WARNING_LEVELS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(10), default="yellow")
    conditions: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    # Working days the owner has to rectify, counted from the day the warning is raised.
    rectify_working_days: Mapped[int] = mapped_column(Integer, default=10)
    evidence_required: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    @property
    def level_label(self) -> str:
        return vocab.label(vocab.WARNING_LEVELS, self.level)


class ProjectWarning(db.Model):
    """One hit of a rule on a funded declaration; closed when its rectification is accepted.

    At most one warning per rule, declaration and month: a rule that still holds after its
    warning was closed raises again next month, not every day.
    """

    __tablename__ = "project_warnings"
    __table_args__ = (
        _one_of("status", vocab.WARNING_STATUSES),
        _one_of("level", vocab.WARNING_LEVELS),
        UniqueConstraint("rule_id", "declaration_id", "month", name="uq_warning_once_a_month"),
        Index("ix_project_warnings_status", "status", "district_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("warning_rules.id"))
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), index=True)
    # The declaration's district when raised, so district lists need no joins.
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    raised_on: Mapped[date] = mapped_column(Date)
    month: Mapped[date] = mapped_column(Date)  # the first day of raised_on's month
    level: Mapped[str] = mapped_column(String(10))
    # What was measured when the rule hit, and the conditions as they read then.
    measures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rule: Mapped[WarningRule] = relationship()
    declaration: Mapped[Declaration] = relationship()
    district: Mapped[District] = relationship()
    task: Mapped["RectificationTask"] = relationship(back_populates="warning")

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.WARNING_STATUSES, self.status)

    @property
    def level_label(self) -> str:
        return vocab.label(vocab.WARNING_LEVELS, self.level)


class RectificationTask(db.Model):
    """The rectification (整改) a warning opens: owner, due date, evidence and a closing review."""

    __tablename__ = "rectification_tasks"
    __table_args__ = (_one_of("status", vocab.RECTIFICATION_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("project_warnings.id"), unique=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date] = mapped_column(Date)
    evidence_required: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    # What the owner did (整改情况说明), written when submitting for the closing review.
    response: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    warning: Mapped[ProjectWarning] = relationship(back_populates="task")
    district: Mapped[District] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    evidence: Mapped[list["RectificationEvidence"]] = relationship(
        back_populates="task", order_by="RectificationEvidence.id"
    )

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.RECTIFICATION_STATUSES, self.status)


class RectificationEvidence(StoredFile, db.Model):
    """A file proving a rectification (整改佐证): a PDF or a photo."""

    __tablename__ = "rectification_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("rectification_tasks.id"), index=True)

    task: Mapped[RectificationTask] = relationship(back_populates="evidence")


class MonthlyReport(db.Model):
    """A monthly tracking report PDF (月度调度报告), citywide or of one district.

    ``data_hash`` is the SHA-256 of the figures it was made from: a request for the same month,
    scope and data joins the existing file or job, and a file whose data has moved on since is
    shown as outdated.
    """

    __tablename__ = "monthly_reports"
    __table_args__ = (
        _one_of("status", vocab.MONTHLY_REPORT_STATUSES),
        UniqueConstraint("month", "scope", "data_hash", name="uq_monthly_report_data"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)  # the first day of the month reported on
    # "city", or the district's id as text (a NULL district would defeat the unique key).
    scope: Mapped[str] = mapped_column(String(20))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    data_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # of the file made
    status: Mapped[str] = mapped_column(String(20), default="queued")
    job_id: Mapped[str] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    district: Mapped[District | None] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.MONTHLY_REPORT_STATUSES, self.status)


class Notification(db.Model):
    """A message to one user (reminders, warnings, invitations), shown in their 待办."""

    __tablename__ = "notifications"
    __table_args__ = (
        _one_of("kind", vocab.NOTIFICATION_KINDS),
        # A scheduled job may run twice; the key makes each reminder arrive once.
        UniqueConstraint("user_id", "dedupe_key", name="uq_notification_once"),
        Index("ix_notifications_user_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def kind_label(self) -> str:
        return vocab.label(vocab.NOTIFICATION_KINDS, self.kind)


call_districts = db.Table(
    "collection_call_districts",
    db.Column("call_id", ForeignKey("collection_calls.id"), primary_key=True),
    db.Column("district_id", ForeignKey("districts.id"), primary_key=True),
)


class CollectionCall(db.Model):
    """A call for projects (征集通知) sent by the city to some districts, with a deadline."""

    __tablename__ = "collection_calls"
    __table_args__ = (
        _one_of("purpose", vocab.CALL_PURPOSES),
        _one_of("status", vocab.CALL_STATUSES),
        CheckConstraint(
            "purpose <> 'program' OR program_id IS NOT NULL", name="program_call_has_program"
        ),
        CheckConstraint("remind_working_days >= 0", name="remind_working_days_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("funding_programs.id"))
    year: Mapped[int] = mapped_column(Integer)
    notice: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[date] = mapped_column(Date)
    # Reminders go out this many Chinese working days before the deadline (workflow/workdays.py).
    remind_working_days: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    program: Mapped[FundingProgram | None] = relationship()
    districts: Mapped[list[District]] = relationship(
        secondary=call_districts, order_by="District.sort_order, District.code"
    )
    proposals: Mapped[list["CallProposal"]] = relationship(
        back_populates="call", order_by="CallProposal.id"
    )

    @property
    def purpose_label(self) -> str:
        return vocab.label(vocab.CALL_PURPOSES, self.purpose)

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.CALL_STATUSES, self.status)


class CallProposal(db.Model):
    """A district's answer to a call: one project, drafted, proposed, then accepted or not."""

    __tablename__ = "call_proposals"
    __table_args__ = (
        _one_of("status", vocab.PROPOSAL_STATUSES),
        UniqueConstraint("call_id", "project_id", name="uq_call_proposal_project"),
        Index("ix_call_proposals_call_district", "call_id", "district_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("collection_calls.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    # The project's district, kept here so the board counts by district in one query.
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    note: Mapped[str] = mapped_column(Text, default="")
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    call: Mapped[CollectionCall] = relationship(back_populates="proposals")
    project: Mapped[Project] = relationship()
    district: Mapped[District] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.PROPOSAL_STATUSES, self.status)


class ReserveEntry(db.Model):
    """A project's line in the three-year rolling reserve plan (储备库)."""

    __tablename__ = "reserve_entries"
    __table_args__ = (
        CheckConstraint("priority IN (1, 2, 3)", name="priority_valid"),
        Index("ix_reserve_entries_declare_year", "declare_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), unique=True)
    declare_year: Mapped[int] = mapped_column(Integer)
    start_year: Mapped[int] = mapped_column(Integer)
    # The funds the project plans to ask for (万元).
    planned_amount: Mapped[Decimal | None] = mapped_column(Money())
    priority: Mapped[int] = mapped_column(Integer, default=2)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    project: Mapped[Project] = relationship(back_populates="reserve_entry")

    @property
    def priority_label(self) -> str:
        return vocab.RESERVE_PRIORITIES.get(self.priority, str(self.priority))


class ReserveAdjustment(db.Model):
    """A requested change to the reserve plan (调入/调出/调整), applied once the city approves."""

    __tablename__ = "reserve_adjustments"
    __table_args__ = (
        _one_of("kind", vocab.ADJUSTMENT_KINDS),
        _one_of("status", vocab.ADJUSTMENT_STATUSES),
        _one_of("reason_code", vocab.RESERVE_REASONS),
        Index("ix_reserve_adjustments_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The plan values asked for: declare_year, start_year, planned_amount, priority, is_key.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The plan values when the request was made, so the decision shows what it changes.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reason_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    project: Mapped[Project] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def kind_label(self) -> str:
        return vocab.label(vocab.ADJUSTMENT_KINDS, self.kind)

    @property
    def status_label(self) -> str:
        return vocab.label(vocab.ADJUSTMENT_STATUSES, self.status)

    @property
    def reason_label(self) -> str:
        return vocab.label(vocab.RESERVE_REASONS, self.reason_code)


class ReserveSnapshot(db.Model):
    """The reserve plan as it stood at one cycle, frozen for later comparison."""

    __tablename__ = "reserve_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # One plain dict per plan line: project id, code, name, district, years, amount, priority, key.
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    taken_by: Mapped[User | None] = relationship()


class ProgramInvitation(db.Model):
    """The city's invitation to a district to declare one reserve project to an open program."""

    __tablename__ = "program_invitations"
    __table_args__ = (
        UniqueConstraint("program_id", "project_id", name="uq_invitation_program_project"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("funding_programs.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    program: Mapped[FundingProgram] = relationship()
    project: Mapped[Project] = relationship()
    invited_by: Mapped[User | None] = relationship()


class AuditEvent(db.Model):
    """An append-only record of who did what to which object, with before and after values."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set when the actor acted as a delegate (代理) for this user.
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    comment: Mapped[str | None] = mapped_column(Text)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])

    @property
    def action_label(self) -> str:
        own = vocab.AUDIT_ACTIONS_BY_OBJECT.get(self.object_type, {})
        return own.get(self.action) or vocab.AUDIT_ACTIONS.get(self.action, self.action)
