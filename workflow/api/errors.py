"""The API's one error shape: {"error": {"code", "message", "fields"}}, with the right status."""

import re

from flask import jsonify

# Pydantic's error types, said in Chinese; anything else falls back to a generic phrase.
PYDANTIC_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为字符串",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "greater_than_equal": "数值过小",
    "greater_than": "数值过小",
    "less_than_equal": "数值过大",
    "less_than": "数值过大",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "date_type": "应为日期,格式 YYYY-MM-DD",
    "date_parsing": "应为日期,格式 YYYY-MM-DD",
    "date_from_datetime_parsing": "应为日期,格式 YYYY-MM-DD",
    "decimal_parsing": "应为数字金额",
    "decimal_type": "应为数字金额",
    "decimal_max_places": "最多两位小数",
    "decimal_max_digits": "金额过大",
    "decimal_whole_digits": "金额过大",
    "literal_error": "取值不在允许范围内",
    "dict_type": "应为 JSON 对象",
    "model_type": "应为 JSON 对象",
    "list_type": "应为数组",
    "value_error": "取值无效",
}


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    """A JSON error response in the API's shape."""
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    response.status_code = status
    return response


def pydantic_fields(errors: list[dict]) -> dict[str, str]:
    """Map each bad field (dotted path) to a Chinese message."""
    fields: dict[str, str] = {}
    for error in errors:
        path = ".".join(str(part) for part in error.get("loc", ()) if part != "__root__")
        message = PYDANTIC_MESSAGES.get(error.get("type", ""), "格式不正确")
        if error.get("type") == "value_error":
            # Our own validators raise ValueError with a Chinese message; keep it.
            own = re.sub(r"^Value error, ", "", error.get("msg", ""))
            message = own if re.search(r"[\u4e00-\u9fff]", own) else message
        fields.setdefault(path or "body", message)
    return fields
