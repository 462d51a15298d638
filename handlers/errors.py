"""One error shape everywhere: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from wagedispute.platform.database import db
from wagedispute.platform.errors import DomainError, InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)

# Chinese messages for the HTTP errors people can meet.
HTTP_MESSAGES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "您没有权限进行此操作"),
    404: ("not_found", "找不到该页面或记录"),
    405: ("method_not_allowed", "不支持该请求方式"),
    413: ("payload_too_large", "提交的内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    429: ("rate_limited", "操作过于频繁，请稍后再试"),
}


# Chinese wording for pydantic's built-in error types; our own validators raise
# ``PydanticCustomError`` with a Chinese message, which is kept as it is.
FIELD_MESSAGES = {
    "missing": "此项为必填项",
    "string_too_short": "此项不能为空",
    "string_too_long": "内容过长（最多 {max_length} 个字）",
    "string_type": "请填写文字",
    "string_pattern_mismatch": "格式不正确",
    "int_parsing": "请填写整数",
    "int_type": "请填写整数",
    "int_from_float": "请填写整数",
    "float_parsing": "请填写数字",
    "float_type": "请填写数字",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "date_parsing": "日期格式应为 年-月-日",
    "date_from_datetime_parsing": "日期格式应为 年-月-日",
    "date_from_datetime_inexact": "日期格式应为 年-月-日",
    "date_type": "日期格式应为 年-月-日",
    "datetime_parsing": "时间格式有误",
    "datetime_from_date_parsing": "时间格式有误",
    "datetime_type": "时间格式有误",
    "literal_error": "请从选项中选择",
    "enum": "请从选项中选择",
    "bool_parsing": "请选择是或否",
    "bool_type": "请选择是或否",
    "list_type": "格式有误",
    "dict_type": "格式有误",
    "too_short": "至少填写 {min_length} 项",
    "too_long": "最多填写 {max_length} 项",
    "extra_forbidden": "不支持的字段",
    "model_type": "格式有误",
    "model_attributes_type": "格式有误",
}
# Anything else (a plain ValueError from a validator, a type we have no wording for).
FALLBACK_FIELD_MESSAGE = "填写内容有误"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The 422 ``details``: one ``{field, problem, message}`` per problem, message in Chinese.

    The one shape for the JSON APIs, the H5 form and the console: ``field`` is the dotted path
    (``employers.0.uscc``), ``problem`` pydantic's error type, ``message`` what to tell people.
    """
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        problems.append(
            {
                "field": ".".join(str(part) for part in err["loc"]),
                "problem": err["type"],
                "message": _field_message(err),
            }
        )
    return problems


def _field_message(err: Any) -> str:
    # Bounds read as people write them: 0, not 0.0.
    ctx = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in (err.get("ctx") or {}).items()
    }
    template = FIELD_MESSAGES.get(err["type"])
    if err["type"] == "string_too_short" and ctx.get("min_length", 1) > 1:
        template = "至少填写 {min_length} 个字"
    if template is not None:
        return template.format(**ctx)
    message = str(err["msg"])
    return message if any("\u4e00" <= ch <= "\u9fff" for ch in message) else FALLBACK_FIELD_MESSAGE


def error_response(
    code: str, message: str, status: int, details: Any = None
) -> ResponseReturnValue:
    """The JSON body and status of every error; ``details`` is ``{}`` when there is nothing to say.

    A 429 says when to come back (``Retry-After``, seconds).
    """
    body: dict[str, Any] = {"code": code, "message": message, "details": details or {}}
    headers: dict[str, str] = {}
    if status == 429:
        wait = body["details"].get("retry_after_seconds") if isinstance(details, dict) else None
        headers["Retry-After"] = str(int(wait or 60))
    return jsonify(error=body), status, headers


def register(app: Flask) -> None:
    """Map domain errors, validation errors and HTTP errors to the one shape."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> ResponseReturnValue:
        return error_response(exc.code, exc.message, exc.status, exc.details)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError) -> ResponseReturnValue:
        invalid = InvalidInput(details=field_errors(exc))
        return error_response(invalid.code, invalid.message, invalid.status, invalid.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        code, message = HTTP_MESSAGES.get(status, ("http_error", "请求无法处理"))
        return error_response(code, message, status)

    # The database or Redis cannot be reached: a fast 503 the client may retry (same
    # Idempotency-Key), not a 500 (tests/fault: PostgreSQL killed during intake).
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeoutError)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def backing_service_unavailable(exc: Exception) -> ResponseReturnValue:
        db.session.rollback()
        log.warning("backing service unavailable: %s", type(exc).__name__)
        unavailable = ServiceUnavailable()
        return error_response(unavailable.code, unavailable.message, unavailable.status)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> ResponseReturnValue:
        # Roll back first: a half-done unit of work must never be committed by a later request.
        db.session.rollback()
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_response("internal_error", "系统出错，请稍后再试", 500)
