"""Pydantic schemas of the JSON API: they validate requests and describe the OpenAPI document.

Field names are the code names of DOMAIN.md; money travels as a decimal string ("1234.50")
so no float ever touches an amount; dates are ISO 8601.
"""

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from .. import vocab

# What Decimal() would read beyond the documented pattern: signs, exponents ("1e3"), "NaN",
# and non-ASCII digits ("١٢"). Digit counts are left to the Field constraints and their messages.
MONEY_SHAPE = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


def _money_in(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str):
        # A JSON number would already have been through a float: refuse it, say why.
        raise ValueError('金额请用字符串表示,例如 "1234.50"')
    value = value.strip()
    if value.startswith("-"):
        raise ValueError("金额不能为负数")
    if not MONEY_SHAPE.fullmatch(value):
        raise ValueError('金额应写成普通数字,例如 "1234.50"(不用科学计数法、千分位或全角数字)')
    return value


MONEY_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"
MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    Field(max_digits=14, decimal_places=2, ge=0),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["1234.50"]}),
]
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["1234.50"]}),
]
RatioOut = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v:.4f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{4}$", "examples": ["0.3000"]}),
]


def _enum(table: dict[str, str]):
    return Literal[tuple(table)]  # type: ignore[valid-type]


Category = _enum(vocab.CATEGORIES)
Nature = _enum(vocab.NATURES)
Maturity = _enum(vocab.MATURITIES)
Stage = _enum(vocab.STAGES)
Action = _enum(vocab.ACTIONS)
AttachmentKind = _enum(vocab.ATTACHMENT_KINDS)
DossierStatus = _enum(vocab.DOSSIER_STATUSES)


class Strict(BaseModel):
    """Request bodies: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="机器可读的错误代码,如 validation_failed、conflict")
    message: str = Field(description="中文说明")
    fields: dict[str, str] = Field(default_factory=dict, description="字段名 → 中文错误说明")


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorDetail


# --- auth -----------------------------------------------------------------------------------


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    token: str
    expires_at: datetime


# --- programs -------------------------------------------------------------------------------


class ProgramOut(BaseModel):
    id: int
    title: str
    level: _enum(vocab.LEVELS)
    issuer: str
    channel: _enum(vocab.CHANNELS)
    year: int
    batch: str
    support_areas: str
    notice: str
    opens_on: date
    district_deadline: date
    city_deadline: date
    upstream_deadline: date | None
    min_request: MoneyOut | None
    max_request: MoneyOut | None
    max_ratio: RatioOut | None
    required_attachments: list[str]
    required_prerequisites: list[str]
    form_fields: list[dict[str, Any]]
    workflow_name: str = Field(description="审核流程(新建的申报按其最新版本流转)")
    status: _enum(vocab.PROGRAM_STATUSES)


class ProgramList(BaseModel):
    items: list[ProgramOut]
    total: int
