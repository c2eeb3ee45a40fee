"""Excel in and out: plain rows for ``documents.excel`` from scoped queries, and project import.

An import is all or nothing: every row is converted and checked with the same rules as the
project form and the API (``rules.project_field_errors``); if any row is wrong nothing is
created and the caller shows the row-by-row report. Otherwise every project goes through
``operations.create_project`` (one audit row each) in the caller's single transaction.

A sheet has no place for the overlap guard's reason, so a row the guard warns about (the same
project code as a library project, the same credit code with a similar name, or a near-identical
name in the district, or a row like an earlier row of the same sheet) is an error of that row:
such a project is created on its own page, where the reason can be written.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from documents.excel import IMPORT_COLUMNS, IMPORT_HINTS, IMPORT_REQUIRED

from . import operations, overlap, rules, vocab
from .errors import OverlapWarning
from .extensions import db
from .library import library_query
from .models import Declaration, FundingProgram, Project, User
from .permissions import scope_declarations

SUMMARY_STAGES = ("city_review", "expert_review", "recommended", "approved")
MAX_IMPORT_ROWS = 1000
BRIEF_LENGTH = 100
CENT = Decimal("0.01")
MONTH_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:\s*[-/.]\s*\d{1,2}\s*日?)?", re.ASCII)
TEXT_LIMITS = {
    "name": 200,
    "applicant_unit": 200,
    "location": 200,
    "content": 5000,
    "data_content": 5000,
    "contact_name": 50,
}
MONEY_FIELDS = ("total_investment", *vocab.FUND_SOURCES)
LABELS = {c.key: c.header.removesuffix("(万元)") for c in IMPORT_COLUMNS}


# --- export ---------------------------------------------------------------------------------


def _month(value: date | None) -> str:
    return value.strftime("%Y-%m") if value else ""


def project_row(project: Project) -> dict:
    """A project as plain values for a sheet: labels in Chinese, money as Decimal."""
    row = {
        "district": project.district.name,
        "name": project.name,
        "code": project.code or "",
        "applicant_unit": project.applicant_unit,
        "applicant_uscc": project.applicant_uscc or "",
        "category": project.category_label,
        "industry_chain": project.industry_chain,
        "nature": project.nature_label,
        "location": project.location,
        "planned_start": _month(project.planned_start),
        "planned_end": _month(project.planned_end),
        "total_investment": project.total_investment,
        "content": project.content,
        "data_content": project.data_content,
        "maturity": project.maturity_label,
        "is_key": "是" if project.is_key else "否",
        "contact_name": project.contact_name,
        "contact_mobile": project.contact_mobile,
    }
    row.update(project.funding_sources())
    return row


def library_rows(args: Mapping[str, str], user: User) -> list[dict]:
    """The filtered library the user may see, as plain rows."""
    query = library_query(args, user).options(selectinload(Project.district))
    return [project_row(p) for p in db.session.scalars(query)]


def summary_rows(program: FundingProgram, user: User) -> list[dict]:
    """The program's declarations past district review, as 汇总表 rows, in the user's scope."""
    query = (
        scope_declarations(select(Declaration), user)
        .where(Declaration.program_id == program.id, Declaration.stage.in_(SUMMARY_STAGES))
        .options(selectinload(Declaration.project).selectinload(Project.district))
    )
    declarations = sorted(
        db.session.scalars(query),
        key=lambda d: (d.project.district.sort_order, d.project.district.code, d.id),
    )
    rows = []
    for decl in declarations:
        project = decl.project
        content = project.content or ""
        brief = content if len(content) <= BRIEF_LENGTH else content[:BRIEF_LENGTH] + "…"
        start, end = _month(project.planned_start), _month(project.planned_end)
        row = {
            "district": project.district.name,
            "name": project.name,
            "code": project.code or "",
            "applicant_unit": project.applicant_unit,
            "content_brief": brief,
            "total_investment": project.total_investment,
            "requested_amount": decl.requested_amount,
            "period": f"{start} 至 {end}" if start or end else "",
            "contact_name": project.contact_name,
            "contact_mobile": project.contact_mobile,
            "stage": decl.stage_label,
        }
        row.update(project.funding_sources())
        rows.append(row)
    return rows


def program_facts(program: FundingProgram, today: date) -> dict:
    """What the 汇总表's title rows show about the program."""
    return {
        "title": program.title,
        "subtitle": f"{program.issuer} {program.year}年{program.batch}  "
        f"导出日期:{today.isoformat()}  金额单位:万元",
    }


# --- import ---------------------------------------------------------------------------------


@dataclass
class RowError:
    """One problem of one spreadsheet row (the row number as Excel shows it)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row else "文件"
        return (
            f"{where}「{self.field}」:{self.message}" if self.field else f"{where}:{self.message}"
        )


@dataclass
class ImportResult:
    """Either the created projects or the errors (then nothing was created)."""

    projects: list[Project] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0


class _RowProblem(ValueError):
    pass


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a mobile typed as a number reads back as 13912345678.0
    return str(value).strip()


def _money(value) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _RowProblem("请输入数字金额(单位:万元)")
    try:
        # str() of a float is its shortest exact spelling, so 1234.56 stays 1234.56.
        amount = Decimal(str(value).strip().replace(",", "").replace(",", ""))
    except InvalidOperation as exc:
        raise _RowProblem("请输入数字金额(单位:万元)") from exc
    if not amount.is_finite():
        raise _RowProblem("请输入数字金额(单位:万元)")
    if amount < 0:
        raise _RowProblem("金额不能为负数")
    if amount >= Decimal("1e12"):
        raise _RowProblem("金额过大")
    if amount.quantize(CENT) != amount:
        raise _RowProblem("金额最多保留两位小数(单位:万元)")
    return amount.quantize(CENT)


def _month_value(value) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime | date):
        return date(value.year, value.month, 1)
    match = MONTH_RE.fullmatch(_text(value))
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise _RowProblem("请按「年-月」填写,例如 2026-03")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _choice(value, table: dict[str, str], what: str) -> str | None:
    text = _text(value)
    if not text:
        return None
    if text in table:
        return text
    for code, name in table.items():
        if name == text:
            return code
    raise _RowProblem(f"{what}应为 " + "、".join(table.values()) + " 之一")


def _flag(value) -> bool:
    text = _text(value)
    if text in ("", "否", "N", "n", "no", "No", "0", "False", "FALSE"):
        return False
    if text in ("是", "Y", "y", "yes", "Yes", "1", "True", "TRUE", "★"):
        return True
    raise _RowProblem("请填写「是」或「否」")


def _header_key(text) -> str | None:
    cleaned = _text(text).lstrip("*").strip().replace("(", "(").replace(")", ")")
    for column in IMPORT_COLUMNS:
        if cleaned in (column.header, column.header.removesuffix("(万元)")):
            return column.key
    return None


def _convert(raw: dict, row_number: int) -> tuple[dict, list[RowError]]:
    """One row's cells → project values, with a RowError per field that cannot be read."""
    errors: list[RowError] = []
    values: dict = {}
    converters = {
        **{name: _money for name in MONEY_FIELDS},
        "planned_start": _month_value,
        "planned_end": _month_value,
        "category": lambda v: _choice(v, vocab.CATEGORIES, "所属领域"),
        "nature": lambda v: _choice(v, vocab.NATURES, "建设性质"),
        "is_key": _flag,
        "code": lambda v: _text(v) or None,
        "applicant_uscc": lambda v: _text(v).upper() or None,
    }
    for column in IMPORT_COLUMNS:
        key = column.key
        try:
            value = converters.get(key, _text)(raw.get(key))
        except _RowProblem as problem:
            errors.append(RowError(row_number, LABELS[key], str(problem)))
            continue
        limit = TEXT_LIMITS.get(key)
        if limit and len(value) > limit:
            errors.append(RowError(row_number, LABELS[key], f"不能超过 {limit} 字"))
            continue
        values[key] = value
    for key in IMPORT_REQUIRED:
        if key in values and not values[key]:
            errors.append(RowError(row_number, LABELS[key], f"请填写「{LABELS[key]}」"))
    return values, errors


def _rows(file_bytes: bytes) -> tuple[dict[int, str], list[tuple[int, tuple]]]:
    """The header map (column index → key) and the data rows with their Excel row numbers."""
    try:
        wb = load_workbook(io.BytesIO(file_bytes), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _RowProblem("文件不是有效的 Excel 工作簿(.xlsx),请下载导入模板填写后上传") from exc
    try:
        ws = wb.worksheets[0]
        all_rows = list(ws.iter_rows(values_only=True, max_row=MAX_IMPORT_ROWS + 10))
    finally:
        wb.close()
    for index, cells in enumerate(all_rows[:5]):
        header = {i: _header_key(c) for i, c in enumerate(cells)}
        header = {i: k for i, k in header.items() if k}
        if "name" in header.values():
            return header, [(index + 2 + n, r) for n, r in enumerate(all_rows[index + 1 :])]
    raise _RowProblem("第一行应为导入模板的表头(至少包括「项目名称」列),请使用导入模板")


def _is_hint_row(raw: dict) -> bool:
    filled = {k: _text(v) for k, v in raw.items() if _text(v)}
    return bool(filled) and all(IMPORT_HINTS.get(k) == v for k, v in filled.items())


def import_projects(file_bytes: bytes, *, actor: User) -> ImportResult:
    """Check every row, then create all projects or none; the caller commits once."""
    result = ImportResult()
    try:
        header, data_rows = _rows(file_bytes)
    except _RowProblem as problem:
        result.errors.append(RowError(0, "", str(problem)))
        return result
    missing = [LABELS[k] for k in sorted(IMPORT_REQUIRED) if k not in header.values()]
    if missing:
        result.errors.append(RowError(0, "", "缺少必填列:" + "、".join(missing)))
        return result
    city_code = current_app.config["CITY_CODE"]
    chains = current_app.config.get("INDUSTRY_CHAINS") or []
    today = operations.local_today()
    accepted: list[tuple[int, dict]] = []
    seen_codes: dict[str, int] = {}
    for row_number, cells in data_rows:
        raw = {key: cells[i] if i < len(cells) else None for i, key in header.items()}
        if not any(_text(v) for v in raw.values()) or _is_hint_row(raw):
            continue
        result.rows_read += 1
        if result.rows_read > MAX_IMPORT_ROWS:
            result.errors.append(
                RowError(0, "", f"一次最多导入 {MAX_IMPORT_ROWS} 个项目,请拆分后分批上传")
            )
            break
        values, errors = _convert(raw, row_number)
        broken = {e.field for e in errors}
        rule_errors = rules.project_field_errors(
            values, city_code, industry_chains=chains, today=today
        )
        for key, message in rule_errors.items():
            if LABELS[key] not in broken:
                errors.append(RowError(row_number, LABELS[key], message))
        code = values.get("code")
        if code and code in seen_codes:
            errors.append(
                RowError(row_number, LABELS["code"], f"与第 {seen_codes[code]} 行的项目代码重复")
            )
        elif code:
            seen_codes[code] = row_number
        if not errors:
            warnings = overlap.project_warnings(values | {"district_id": actor.district_id})
            if warnings:
                errors.append(_overlap_error(row_number, warnings))
        result.errors.extend(errors)
        accepted.append((row_number, values))
    if not result.errors and not accepted:
        result.errors.append(RowError(0, "", "表格中没有项目数据(从第 3 行起每行填写一个项目)"))
    if result.errors:
        return result
    created_rows: dict[int, int] = {}
    for row_number, values in accepted:
        try:
            project = operations.create_project(values, actor=actor)
        except OverlapWarning as warning:
            # Only rows above it in this very sheet can warn now; they are in the session, and
            # the caller rolls them back, so the report names their rows, not their ids.
            rows = sorted(
                {
                    created_rows[w.project_id]
                    for w in warning.warnings
                    if w.project_id in created_rows
                }
            )
            result.errors.append(
                RowError(
                    row_number,
                    "",
                    "与本表第 " + "、".join(map(str, rows)) + " 行的项目可能重复,"
                    "请核实后合并或删除重复的行",
                )
                if rows
                else _overlap_error(row_number, warning.warnings)
            )
            continue
        created_rows[project.id] = row_number
        result.projects.append(project)
    if result.errors:
        result.projects = []
    return result


def _overlap_error(row_number: int, warnings: list[overlap.Overlap]) -> RowError:
    """The row's error when the overlap guard warns about it."""
    listed = ";".join(w.message for w in warnings)
    return RowError(
        row_number,
        "",
        f"与项目库中已有项目可能重复({listed})。请核实;如确需新建,"
        "请在「新建项目」页面逐个新建并填写继续的理由",
    )
