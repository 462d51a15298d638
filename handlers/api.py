"""What every JSON endpoint shares: the caller, the parsed body, and its OpenAPI entry."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from flask import Flask, request
from pydantic import BaseModel, ValidationError
from werkzeug.routing import Rule

from wagedispute.access.actors import Actor
from wagedispute.access.tokens import actor_from_token
from wagedispute.models import Role
from wagedispute.platform.errors import DomainError, NotFound, Unauthorized

ModelT = TypeVar("ModelT", bound=BaseModel)


class MalformedJSON(DomainError):
    """The body is not JSON at all."""

    code = "malformed_json"
    message = "请求内容不是有效的 JSON"
    status = 400


class UnsupportedMediaType(DomainError):
    """The body is not sent as JSON."""

    code = "unsupported_media_type"
    message = "请以 application/json 格式提交"
    status = 415


def current_actor(*roles: Role) -> Actor:
    """The bearer token's actor; a role outside ``roles`` sees nothing here (404)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    actor = actor_from_token(token.strip())
    if roles and actor.role not in roles:
        raise NotFound()
    return actor


# The OpenAPI request body of an evidence upload: a multipart field "file" or the raw bytes.
UPLOAD_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def read_upload() -> bytes:
    """The uploaded file's bytes: the multipart field ``file``, else the raw request body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        return upload.read() if upload is not None else b""
    return request.get_data()


def parse_body(model: type[ModelT]) -> ModelT:
    """Validate the JSON body with a pydantic model; wrong type 415, not JSON 400, bad 422."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        return model.model_validate_json(request.get_data())
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise MalformedJSON() from exc
        raise


# Errors any operation of a kind can answer, by status: (description, codes).
AUTH_ERRORS = {
    401: ("未登录或登录已过期", ["unauthorized", "token_expired", "token_invalid"]),
    # A token of another role sees nothing here, exactly like an unknown case.
    404: ("令牌属于其他角色（与不存在的记录一样，不作区分）", ["not_found"]),
}
BODY_ERRORS = {
    400: ("请求体不是有效的 JSON", ["malformed_json", "bad_request"]),
    413: ("请求体过大", ["payload_too_large"]),
    415: ("请求体不是 application/json", ["unsupported_media_type"]),
    422: ("内容校验未通过：details 逐项列出字段和中文说明", ["invalid_input"]),
}
NUMBER_ERRORS = {404: ("案件不存在或不在您的范围内（两者不作区分）", ["not_found"])}
RATE_ERRORS = {429: ("请求过于频繁：响应头 Retry-After 给出可重试的秒数", ["rate_limited"])}
UNAVAILABLE = {503: ("数据库、Redis 或微信暂时不可用，可稍后重试", ["service_unavailable"])}

# Tags, in the order the reference page shows them.
TAGS = [
    ("登录", "小程序登录：工人用 wx.login；工长和处置小组成员首次登录另需绑定码"),
    ("扫码", "工长二维码：名片、二维码图片、海报和小程序码"),
    ("工人", "工人的投诉、进度、证据、回访和订阅消息"),
    ("工长", "工长的线索、紧急程度、分派、不予受理、合并拆分和跟踪"),
    ("处置小组", "处置工作小组接收、退回、记录进展、证据和办结"),
    ("文档", "本接口说明"),
]

Errors = dict[int, tuple[str, list[str]]]


@dataclass
class Operation:
    """One documented endpoint: what it takes, what it answers, and every status it returns.

    Its method and path are the app's own route for ``view`` (``bind``): never written twice.
    """

    view: Callable[..., Any]
    summary: str
    operation_id: str
    tag: str
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    auth: bool = True
    status: int = 200
    errors: Errors = field(default_factory=dict)
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # For a route serving several documented paths: fixed values of its converters.
    path_values: dict[str, str] = field(default_factory=dict)
    method: str = ""
    path: str = ""

    def bind(self, rule: Rule) -> Operation:
        """This operation at ``rule``'s method and path (``<number>`` becomes ``{number}``)."""
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        if len(methods) != 1:
            raise ValueError(f"{rule.rule}: a documented route answers one method, not {methods}")

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            return self.path_values.get(name, "{" + name + "}")

        return replace(self, method=methods[0], path=ROUTE_VARIABLE.sub(placeholder, rule.rule))

    def error_statuses(self) -> Errors:
        """Every error status this operation answers, with its codes."""
        out: Errors = {}
        groups: list[Errors] = [UNAVAILABLE]
        if self.auth:
            groups.append(AUTH_ERRORS)
        if self.request_model is not None or "requestBody" in self.extra:
            groups.append(BODY_ERRORS)
        if "{number}" in self.path:
            groups.append(NUMBER_ERRORS)
        groups.append(self.errors)
        for group in groups:
            for status, (description, codes) in group.items():
                if status in out:
                    merged = out[status][1] + [c for c in codes if c not in out[status][1]]
                    out[status] = (out[status][0] + "；" + description, merged)
                else:
                    out[status] = (description, list(codes))
        return out


OPERATIONS: list[Operation] = []
# A variable part of a Werkzeug rule: ``<number>``, ``<int:case_id>``, ``<any('a','b'):kind>``.
ROUTE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def documented(
    summary: str,
    *,
    tag: str,
    request_model: type[BaseModel] | None = None,
    response_model: type[BaseModel] | None = None,
    auth: bool = True,
    status: int = 200,
    errors: Errors | None = None,
    description: str | None = None,
    operation_id: str | None = None,
    path_values: dict[str, str] | None = None,
    **extra: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Record an endpoint for the OpenAPI document; its method and path come from its route.

    ``errors`` lists the statuses particular to this endpoint (``{409: ("说明", [codes])}``); the
    ones every endpoint of its kind answers (401, 400/413/415/422 with a body, 404 with a case
    number, 503) are added by ``Operation.error_statuses``.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        module = view.__module__.rsplit(".", 1)[-1]
        OPERATIONS.append(
            Operation(
                view=view,
                summary=summary,
                operation_id=operation_id or f"{module}_{view.__name__}",
                tag=tag,
                request_model=request_model,
                response_model=response_model,
                auth=auth,
                status=status,
                errors=dict(errors or {}),
                description=description,
                extra=extra,
                path_values=dict(path_values or {}),
            )
        )
        return view

    return decorate


def documented_operations(app: Flask) -> list[Operation]:
    """Every documented operation at the method and path of the app's route for its view."""
    rules: dict[Callable[..., Any], list[Rule]] = {}
    for rule in app.url_map.iter_rules():
        rules.setdefault(inspect.unwrap(app.view_functions[rule.endpoint]), []).append(rule)
    bound = []
    for op in OPERATIONS:
        for rule in rules.get(inspect.unwrap(op.view), []):
            if all(
                value in str(rule.rule) or name not in rule.arguments
                for name, value in op.path_values.items()
            ):
                bound.append(op.bind(rule))
    return bound


def _label_enums(schemas: dict[str, Any]) -> None:
    """Give each enum its Chinese labels (``x-enum-labels``) and list them in the description."""
    from wagedispute.models import CaseStatus, Outcome, Urgency

    labels = {
        "CaseStatus": {s.value: s.label for s in CaseStatus},
        "Urgency": {u.value: u.label for u in Urgency},
        "Outcome": Outcome.labels(),
    }
    # Output fields carry the value as a plain string: name the enum they hold.
    by_field = {
        "status": "CaseStatus",
        "from_status": "CaseStatus",
        "to_status": "CaseStatus",
        "urgency": "Urgency",
        "urgency_suggested": "Urgency",
        "urgency_confirmed": "Urgency",
        "outcome": "Outcome",
    }

    def describe(names: dict[str, str]) -> str:
        return "取值：" + "，".join(f"{value} {label}" for value, label in names.items())

    for name, names in labels.items():
        if name in schemas:
            schemas[name]["x-enum-labels"] = names
            schemas[name]["description"] = describe(names)
    for schema in schemas.values():
        for prop, spec in (schema.get("properties") or {}).items():
            enum_name = by_field.get(prop)
            if enum_name is None or "$ref" in spec or "allOf" in spec:
                continue
            names = labels[enum_name]
            branches = spec.get("anyOf", [spec])
            for branch in branches:
                if branch.get("type") == "string":
                    branch["enum"] = list(names)
                    branch["x-enum-labels"] = names
            spec.setdefault("description", describe(names))


def _error_response(description: str, codes: list[str]) -> dict[str, Any]:
    return {
        "description": description + "。error.code 取值：" + "、".join(codes),
        "x-error-codes": codes,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"error": {"code": codes[0], "message": "……", "details": {}}},
            }
        },
    }


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document built from the same pydantic models that validate requests."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel], mode: str) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for op in documented_operations(app):
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "tags": [op.tag],
            "summary": op.summary,
            "responses": {},
        }
        if op.description:
            entry["description"] = op.description
        if op.request_model is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.request_model, "validation")}},
            }
        ok: dict[str, Any] = {"description": "成功"}
        if op.response_model is not None:
            ok["content"] = {
                "application/json": {"schema": ref(op.response_model, "serialization")}
            }
        entry["responses"][str(op.status)] = ok
        for status, (description, codes) in sorted(op.error_statuses().items()):
            entry["responses"][str(status)] = _error_response(description, codes)
        if op.auth:
            entry["security"] = [{"bearer": []}]
        extra = dict(op.extra)
        entry["responses"].update(extra.pop("responses", {}))
        entry.update(extra)
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    schemas["Error"] = {
        "type": "object",
        "description": "所有错误的统一格式",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "机器可读的错误码（snake_case）"},
                    "message": {"type": "string", "description": "给人看的中文说明"},
                    "details": {
                        "description": "补充信息：无可说明时为空对象 {}；"
                        "422 时为逐项字段错误的数组；410 时为现任工长的联系方式",
                        "anyOf": [
                            {"type": "object"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
                        ],
                    },
                },
            }
        },
    }
    # The one 422 shape (handlers.errors.field_errors).
    schemas["FieldError"] = {
        "type": "object",
        "required": ["field", "problem", "message"],
        "properties": {
            "field": {"type": "string", "description": "字段路径，如 employers.0.uscc"},
            "problem": {"type": "string", "description": "错误类型（pydantic 的 type）"},
            "message": {"type": "string", "description": "给人看的中文说明"},
        },
    }
    _label_enums(schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wagedispute 小程序接口",
            "version": "1",
            "description": "盐田区欠薪投诉“工长”制度：工人、工长、处置工作小组的小程序接口。"
            "请求和响应均为 JSON（上传证据除外）；登录后在 Authorization 头带 Bearer 令牌；"
            "列表用 cursor 分页（响应的 next_cursor 为空表示最后一页）。",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
