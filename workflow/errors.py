"""Errors a user can cause, each with a Chinese message and the HTTP status it answers with."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """Why a workflow action may not happen: wrong ``stage``, wrong ``role``, or failed
    ``guard``s; the operation turns it into a 409, a 403 or a 422."""

    kind: str
    reasons: list[str]


class OperationError(Exception):
    """A request the domain refuses; the message is shown to the user as is."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        reasons: list[str] | None = None,
        fields: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.reasons = reasons or []
        self.fields = fields or {}


class Conflict(OperationError):
    """Someone else changed the object first, or the action does not fit its stage."""

    status = 409
    code = "conflict"


class NotPermitted(OperationError):
    """The actor's role may not do this."""

    status = 403
    code = "forbidden"


class Invalid(OperationError):
    """The data breaks a rule; ``fields`` or ``reasons`` say which."""

    status = 422
    code = "validation_failed"


STALE_MESSAGE = (
    "该记录已被他人修改(您看到的是第 {seen} 版,当前为第 {current} 版),请刷新页面后重试。"
)


class OverlapWarning(Conflict):
    """The overlap guard found likely duplicates (``warnings``); going on needs a written reason.

    A 409 like other conflicts with what the library already holds, with its own code
    ``overlap``: the same request sent again with ``overlap_reason`` goes through.
    """

    code = "overlap"

    def __init__(self, message: str, *, warnings: list):
        super().__init__(
            message,
            reasons=[w.message for w in warnings],
            fields={"overlap_reason": "发现可能重复或交叉申报的项目,继续须填写理由"},
        )
        self.warnings = warnings
