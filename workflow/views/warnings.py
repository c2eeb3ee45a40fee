"""Warnings and rectification (预警整改): the lists, one warning and its task, the rules."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from forms.warnings import (
    CONDITION_ROWS,
    CheckForm,
    EvidenceForm,
    RectificationForm,
    RectificationReviewForm,
    WarningRuleForm,
)

from .. import early_warning, vocab
from ..errors import OperationError
from ..extensions import db
from ..models import (
    Declaration,
    District,
    ProjectWarning,
    RectificationEvidence,
    RectificationTask,
    WarningRule,
)
from ..operations import local_today
from ..paging import ListPage, page_number
from ..permissions import CITY_WIDE_ROLES
from ..storage import upload_path
from . import act_from_page, form_status, send_download

bp = Blueprint("warnings", __name__)
PER_PAGE = 50


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in user; experts have none of them."""
    if not early_warning.may_see_warnings(current_user):
        abort(404)


def warning_or_404(warning_id: int) -> ProjectWarning:
    """The warning if the user may see its district (another district's: 404)."""
    warning = db.session.get(ProjectWarning, warning_id)
    if warning is None:
        abort(404)
    if current_user.is_district_user and warning.district_id != current_user.district_id:
        abort(404)
    return warning


def _version(raw) -> int | None:
    return int(raw) if raw and str(raw).isdigit() else None


def _is_staff_of(task: RectificationTask) -> bool:
    return current_user.role == "district_staff" and current_user.district_id == task.district_id


@bp.app_template_global()
def rectification_inbox() -> list[RectificationTask]:
    """The rectification tasks waiting for the signed-in user (for the inbox)."""
    return early_warning.inbox_tasks(current_user)


@bp.app_template_global()
def conditions_text(conditions: list[dict]) -> str:
    """A rule's conditions in words: 「资金支付率 < 50% 且 批复后的月数 ≥ 6」."""
    return early_warning.conditions_text(conditions)


# --- the list --------------------------------------------------------------------------------


def _filters() -> dict:
    """The list's filters from the query string; unknown values are ignored."""
    args = request.args
    chosen = {
        "status": args.get("status", ""),
        "level": args.get("level", ""),
        "rule": args.get("rule", ""),
        "district": args.get("district", ""),
    }
    if chosen["status"] not in vocab.RECTIFICATION_STATUSES:
        chosen["status"] = ""
    if chosen["level"] not in vocab.WARNING_LEVELS:
        chosen["level"] = ""
    for key in ("rule", "district"):
        if not chosen[key].isdigit():
            chosen[key] = ""
    if current_user.is_district_user:
        chosen["district"] = ""
    return chosen


@bp.route("/warnings")
def index():
    """Warnings and their tasks in the user's scope, filtered; the city also sees each district."""
    today = local_today()
    chosen = _filters()
    query = early_warning.scope_warnings(
        select(ProjectWarning).join(
            RectificationTask, RectificationTask.warning_id == ProjectWarning.id
        ),
        current_user,
    )
    if chosen["status"]:
        query = query.where(RectificationTask.status == chosen["status"])
    if chosen["level"]:
        query = query.where(ProjectWarning.level == chosen["level"])
    if chosen["rule"]:
        query = query.where(ProjectWarning.rule_id == int(chosen["rule"]))
    if chosen["district"]:
        query = query.where(ProjectWarning.district_id == int(chosen["district"]))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    number = page_number(request.args)
    warnings = db.session.scalars(
        query.options(
            joinedload(ProjectWarning.rule),
            joinedload(ProjectWarning.district),
            joinedload(ProjectWarning.task).joinedload(RectificationTask.owner),
            joinedload(ProjectWarning.declaration).joinedload(Declaration.project),
        )
        .order_by(ProjectWarning.raised_on.desc(), ProjectWarning.id.desc())
        .limit(PER_PAGE)
        .offset((number - 1) * PER_PAGE)
    ).all()
    citywide = current_user.role in CITY_WIDE_ROLES
    return render_template(
        "warnings/index.html",
        page=ListPage(warnings, number, PER_PAGE, total),
        chosen=chosen,
        rules=db.session.scalars(select(WarningRule).order_by(WarningRule.id)).all(),
        districts=db.session.scalars(select(District).order_by(District.sort_order, District.id))
        if citywide
        else [],
        counts=early_warning.district_counts(today) if citywide else [],
        may_check=current_user.role in early_warning.CHECKERS,
        check_form=CheckForm(formdata=None),
        today=today,
    )


@bp.route("/warnings/check", methods=["POST"])
def check():
    """立即检查: run today's evaluation for the whole city."""
    if current_user.role not in early_warning.CHECKERS:
        abort(403, "只有市级审核员、管理人员或系统管理员可以运行预警检查")
    if not CheckForm().validate_on_submit():
        abort(400)
    raised = early_warning.check_now(local_today(), actor=current_user)
    db.session.commit()
    if raised:
        flash(f"检查完成:新增预警 {len(raised)} 条,已生成整改任务并通知相关区县", "success")
    else:
        flash("检查完成:没有新增预警", "info")
    return redirect(url_for("warnings.index"))


# --- one warning and its task ----------------------------------------------------------------


def _measure_rows(warning: ProjectWarning) -> list[tuple[str, str, str, bool]]:
    """(measure, value, unit, watched by the rule) as measured when the warning was raised."""
    values = (warning.measures or {}).get("values", {})
    watched = {c["measure"] for c in warning.rule.conditions}
    return [
        (
            label,
            early_warning.number(values.get(code)) if values.get(code) is not None else "无法计算",
            early_warning.MEASURE_UNITS[code] if values.get(code) is not None else "",
            code in watched,
        )
        for code, label in vocab.WARNING_MEASURES.items()
    ]


def _render_detail(
    warning: ProjectWarning,
    *,
    response_form=None,
    review_form=None,
    error=None,
    status=200,
):
    task = warning.task
    today = local_today()
    editable = task.status in early_warning.EDITABLE_STATUSES
    return (
        render_template(
            "warnings/detail.html",
            warning=warning,
            task=task,
            decl=warning.declaration,
            rule=warning.rule,
            measures=_measure_rows(warning),
            overdue=early_warning.is_overdue(task, today),
            events=early_warning.history(warning),
            may_respond=editable and _is_staff_of(task),
            may_review=task.status == "submitted" and current_user.role in early_warning.REVIEWERS,
            response_form=response_form
            or RectificationForm(formdata=None, response=task.response, version=task.version),
            evidence_form=EvidenceForm(formdata=None),
            review_form=review_form or RectificationReviewForm(formdata=None, version=task.version),
            error=error,
        ),
        status,
    )


@bp.route("/warnings/<int:warning_id>")
def detail(warning_id: int):
    """One warning: what was found, the project, and its rectification task."""
    return _render_detail(warning_or_404(warning_id))


@bp.route("/warnings/<int:warning_id>/response", methods=["POST"])
def respond(warning_id: int):
    """Save the 整改情况说明, or submit it for the closing review (the district's staff)."""
    warning = warning_or_404(warning_id)
    task = warning.task
    if not _is_staff_of(task):
        abort(403, "只有项目所属区县的填报员可以办理整改")
    form = RectificationForm()
    submit = form.action.data == "submit"
    operation = early_warning.submit_rectification if submit else early_warning.save_response
    return act_from_page(
        form,
        lambda: operation(
            task,
            form.response.data or "",
            actor=current_user,
            expected_version=_version(form.version.data),
        ),
        refused=lambda error, status: _render_detail(
            warning_or_404(warning_id), response_form=form, error=error, status=status
        ),
        done="整改情况已提交市级销号审核" if submit else "整改情况说明已保存",
        then=url_for("warnings.detail", warning_id=warning.id),
    )


@bp.route("/warnings/<int:warning_id>/evidence", methods=["POST"])
def upload_evidence(warning_id: int):
    """Attach a PDF or photo proving the rectification."""
    warning = warning_or_404(warning_id)
    task = warning.task
    if not _is_staff_of(task):
        abort(403, "只有项目所属区县的填报员可以上传整改佐证")
    form = EvidenceForm()
    return act_from_page(
        form,
        lambda: early_warning.add_evidence(
            task,
            filename=form.file.data.filename or "",
            content=form.file.data.read(),
            actor=current_user,
        ),
        refused=lambda error, status: _render_detail(
            warning_or_404(warning_id), error=error, status=status
        ),
        done="整改佐证已上传",
        then=url_for("warnings.detail", warning_id=warning.id) + "#evidence",
    )


@bp.route("/warnings/<int:warning_id>/review", methods=["POST"])
def review(warning_id: int):
    """The city closes (销号) the rectification or returns it with a comment."""
    warning = warning_or_404(warning_id)
    if current_user.role not in early_warning.REVIEWERS:
        abort(403, "只有市级审核员或管理人员可以审核销号")
    form = RectificationReviewForm()
    close = form.decision.data == "close"
    return act_from_page(
        form,
        lambda: early_warning.review_rectification(
            warning.task,
            close,
            form.comment.data or "",
            actor=current_user,
            expected_version=_version(form.version.data),
        ),
        refused=lambda error, status: _render_detail(
            warning_or_404(warning_id), review_form=form, error=error, status=status
        ),
        done="整改已审核销号,预警已关闭" if close else "整改已退回,区县将重新提交",
        then=url_for("warnings.detail", warning_id=warning.id),
    )


@bp.route("/rectification-evidence/<int:evidence_id>")
def download_evidence(evidence_id: int):
    """An evidence file under its original name."""
    evidence = db.session.get(RectificationEvidence, evidence_id)
    if evidence is None:
        abort(404)
    warning_or_404(evidence.task.warning_id)
    path = upload_path(evidence.stored_name)
    if not path.exists():
        abort(404)
    extension = evidence.stored_name.rsplit(".", 1)[-1]
    return send_download(
        path,
        evidence.content_type,
        evidence.original_name,
        fallback=f"evidence-{evidence.id}.{extension}",
    )


# --- rules -----------------------------------------------------------------------------------


def _require_rule_editor() -> None:
    if current_user.role not in early_warning.RULE_EDITORS:
        abort(403, "只有市级审核员、管理人员或系统管理员可以配置预警规则")


@bp.route("/warnings/rules")
def rules():
    """Every rule with its conditions in words, and how many open warnings it holds."""
    _require_rule_editor()
    rows = early_warning.all_rules()
    db.session.commit()  # the built-in rules, when this was their first showing
    open_counts = dict(
        db.session.execute(
            select(ProjectWarning.rule_id, func.count())
            .where(ProjectWarning.status == "open")
            .group_by(ProjectWarning.rule_id)
        ).all()
    )
    return render_template(
        "warnings/rules.html",
        rules=rows,
        open_counts=open_counts,
        check_form=CheckForm(formdata=None),
    )


def _render_rule_form(form, rule=None, *, error=None, status=200):
    return (
        render_template(
            "warnings/rule_form.html",
            form=form,
            rule=rule,
            rows=CONDITION_ROWS,
            error=error,
        ),
        status,
    )


def _show_errors(form: WarningRuleForm, fields: dict[str, str]) -> None:
    """Put an operation's field errors on the form (conditions on the first row)."""
    for name, message in fields.items():
        target = "measure_1" if name == "conditions" else name
        if target in form:
            form[target].errors = [*form[target].errors, message]


@bp.route("/warnings/rules/new", methods=["GET", "POST"])
def new_rule():
    """Add a rule of the city's own, from the same measures and operators."""
    _require_rule_editor()
    form = WarningRuleForm()
    if request.method == "GET":
        form.enabled.data = True
        form.level.data = "yellow"
        form.rectify_working_days.data = 10
    if form.validate_on_submit():
        try:
            rule = early_warning.create_rule(form.values(), actor=current_user)
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            _show_errors(form, failure.fields)
            return _render_rule_form(form, error=failure.message, status=failure.status)
        flash(f"已新增预警规则「{rule.name}」", "success")
        return redirect(url_for("warnings.rules"))
    error = "请按提示修改后再保存" if form.errors else None
    return _render_rule_form(form, error=error, status=form_status(form))


@bp.route("/warnings/rules/<int:rule_id>/edit", methods=["GET", "POST"])
def edit_rule(rule_id: int):
    """Change a rule's thresholds, level, days, evidence, or switch it off."""
    _require_rule_editor()
    rule = db.session.get(WarningRule, rule_id)
    if rule is None:
        abort(404)
    if request.method == "GET":
        form = WarningRuleForm(obj=rule)
        form.set_conditions(rule.conditions)
        form.version.data = rule.version
    else:
        form = WarningRuleForm()
    if form.validate_on_submit():
        try:
            early_warning.update_rule(
                rule,
                form.values(),
                actor=current_user,
                expected_version=_version(form.version.data),
            )
            db.session.commit()
        except OperationError as failure:
            db.session.rollback()
            _show_errors(form, failure.fields)
            return _render_rule_form(
                form,
                db.session.get(WarningRule, rule_id),
                error=failure.message,
                status=failure.status,
            )
        flash(f"预警规则「{rule.name}」已保存", "success")
        return redirect(url_for("warnings.rules"))
    error = "请按提示修改后再保存" if form.errors else None
    return _render_rule_form(form, rule, error=error, status=form_status(form))
