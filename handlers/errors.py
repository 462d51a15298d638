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
from wagedispute.platform.errors import DomainError, ServiceUnavailable

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


def error_response(
    code: str, message: str, status: int, details: Any = None
) -> ResponseReturnValue:
    """The JSON body and status of every error."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(error=body), status


def register(app: Flask) -> None:
    """Map domain errors, validation errors and HTTP errors to the one shape."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> ResponseReturnValue:
        return error_response(exc.code, exc.message, exc.status, exc.details)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError) -> ResponseReturnValue:
        details = [
            {"field": ".".join(str(part) for part in err["loc"]), "problem": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        return error_response("invalid_input", "提交的内容有误，请检查后重试", 422, details)

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
