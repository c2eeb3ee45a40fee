"""Expert review forms (专家评审): assigning an expert, the score sheet, a program's criteria."""

import re
from decimal import Decimal, InvalidOperation

from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from workflow import experts, vocab

from . import BaseForm
from .fields import Required, choices, strip

SCORE_PREFIX = "s_"


def _expert_id(value):
    """The posted expert id; blank or anything not a number reads as no choice at all."""
    if value is None or isinstance(value, int):
        return value
    return int(value) if str(value).strip().isdigit() else None


class ExpertAssignForm(BaseForm):
    """Which expert to assign; the operation explains a conflict of interest itself."""

    expert_id = SelectField(
        "评审专家",
        coerce=_expert_id,
        # The select lists the eligible experts; any other id is refused by assign_expert with
        # the reason (回避), which says more than "not a valid choice".
        validate_choice=False,
        validators=[Required("请选择评审专家")],
    )
    version = HiddenField()

    def set_experts(self, candidates) -> None:
        """Offer the eligible experts, each with their unit."""
        self.expert_id.choices = choices(
            [
                (
                    str(c.expert.id),
                    f"{c.expert.display_name}({c.expert.organization})"
                    if c.expert.organization
                    else c.expert.display_name,
                )
                for c in candidates
                if c.eligible
            ],
            "请选择专家",
        )


class ExpertUnassignForm(BaseForm):
    """Only a CSRF token: taking back an assignment asks nothing more."""


class ScoreField(StringField):
    """A score from 0 to 100, at most two decimals; what was typed is kept when it is wrong."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "placeholder": "0–100"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        self.raw = valuelist[0].strip() if valuelist else ""
        if not self.raw:
            self.data = None
            return
        try:
            value = Decimal(self.raw)
        except InvalidOperation as exc:
            self.data = None
            raise ValueError("请填写 0 到 100 之间的数字") from exc
        if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
            self.data = None
            raise ValueError("分数应在 0 到 100 之间")
        if value != value.quantize(experts.CENT):
            self.data = None
            raise ValueError("分数最多保留两位小数")
        self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{Decimal(str(self.data)).normalize():f}"


def score_sheet_form(criteria: list[dict]) -> type[BaseForm]:
    """A form class with one score field per criterion (``s_<name>``) and the opinion."""

    class ScoreSheetForm(BaseForm):
        comment = TextAreaField(
            "评审意见",
            filters=[strip],
            validators=[
                Required("请填写评审意见"),
                Length(max=3000, message="评审意见不能超过 3000 字"),
            ],
            description="必填:对项目的总体评价、主要问题和建议",
        )

        def scores(self) -> dict:
            """The typed scores by criterion name."""
            return {c["name"]: self[SCORE_PREFIX + c["name"]].data for c in criteria}

        def score_fields(self) -> list:
            """The score fields with their criterion, in the sheet's order."""
            return [(c, self[SCORE_PREFIX + c["name"]]) for c in criteria]

        def load(self, sheet) -> None:
            """Fill the form from a saved sheet (to correct it)."""
            for c in criteria:
                if c["name"] in sheet.scores:
                    self[SCORE_PREFIX + c["name"]].data = sheet.scores[c["name"]]
            self.comment.data = sheet.comment

    for c in criteria:
        setattr(
            ScoreSheetForm,
            SCORE_PREFIX + c["name"],
            ScoreField(
                f"{c['label']}(权重 {c['weight']}%)",
                validators=[Required(f"请为「{c['label']}」打分")],
            ),
        )
    return ScoreSheetForm


# One criterion per line: a label, then its weight after a colon, "=" or spaces.
_LINE = re.compile(r"^(?P<label>.+?)\s*(?:[:：=]|\s)\s*(?P<weight>[^\s:：=]+)$")
_DEFAULT_NAMES = {c["label"]: c["name"] for c in vocab.DEFAULT_SCORE_CRITERIA}


def criteria_text(criteria: list[dict]) -> str:
    """A score sheet as the lines the form shows: "合规性:25"."""
    return "\n".join(f"{c['label']}:{c['weight']}" for c in criteria)


class CriteriaField(TextAreaField):
    """The score sheet typed as lines "名称:权重"; blank means the default sheet."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = []
        problems = []
        lines = [line.strip().strip("\u3000") for line in self.raw.splitlines()]
        for number, line in enumerate((line for line in lines if line), start=1):
            match = _LINE.match(line)
            weight = match["weight"] if match else ""
            if not match or not weight.isdigit() or int(weight) <= 0:
                problems.append(f"第 {number} 行「{line}」应写成「名称:权重」,权重为正整数")
                continue
            label = match["label"].strip()
            # The default sheet's labels keep their names; others are named by position.
            name = _DEFAULT_NAMES.get(label, f"c{number}")
            self.data.append({"name": name, "label": label, "weight": int(weight)})
        if problems:
            raise ValueError(";".join(problems))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return criteria_text(self.data or [])


def _sheet_is_usable(form, field):
    if field.errors:
        return
    problems = experts.criteria_problems(field.data or [])
    if problems:
        raise ValidationError(";".join(problems))


class ScoreCriteriaForm(BaseForm):
    """A program's score sheet."""

    criteria = CriteriaField(
        "评分项及权重",
        validators=[_sheet_is_usable],
        description="每行一项,写成「名称:权重」,权重为正整数且合计 100;留空则使用默认评分表",
        render_kw={"rows": 6},
    )
    version = HiddenField()
