"""The API described from the models that validate it: ``/api/v1/openapi.json`` for machines,
``/api/v1/docs`` for people (server-rendered, no script, no CDN: readable offline)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from handlers.api import openapi_document

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/v1/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of the mini-program API."""
    return jsonify(openapi_document(current_app))


def _schema_name(schema: dict[str, Any] | None) -> str | None:
    ref = (schema or {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def _type_of(spec: dict[str, Any]) -> str:
    """A short, readable type: ``string``, ``integer | null``, ``array of TeamOut``."""
    if "$ref" in spec:
        return _schema_name(spec) or "object"
    if "anyOf" in spec:
        return " | ".join(_type_of(branch) for branch in spec["anyOf"])
    if spec.get("type") == "array":
        return "array of " + _type_of(spec.get("items") or {})
    return str(spec.get("type", "any"))


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    rows = []
    for name, spec in (schema.get("properties") or {}).items():
        labels = spec.get("x-enum-labels") or next(
            (b.get("x-enum-labels") for b in spec.get("anyOf", []) if b.get("x-enum-labels")),
            None,
        )
        rows.append(
            {
                "name": name,
                "type": _type_of(spec),
                "required": name in required,
                "description": spec.get("description") or spec.get("title") or "",
                "labels": labels,
                "examples": spec.get("examples"),
            }
        )
    return rows


@blueprint.get("/api/v1/docs")
def reference() -> ResponseReturnValue:
    """A readable API reference built from the same document."""
    document = openapi_document(current_app)
    schemas = document["components"]["schemas"]
    by_tag: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in document["tags"]}
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            request_schema = None
            body = entry.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                request_schema = _schema_name(body["application/json"]["schema"])
            elif body:
                request_schema = "文件（" + "、".join(body) + "）"
            responses = []
            for status, answer in entry["responses"].items():
                content = answer.get("content", {})
                json_schema = content.get("application/json", {}).get("schema")
                responses.append(
                    {
                        "status": status,
                        "description": answer.get("description", ""),
                        "schema": _schema_name(json_schema) or ", ".join(content) or "",
                    }
                )
            by_tag.setdefault(entry["tags"][0], []).append(
                {
                    "id": entry["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": entry.get("summary", ""),
                    "description": entry.get("description", ""),
                    "auth": "security" in entry,
                    "parameters": entry.get("parameters", []),
                    "request": request_schema,
                    "responses": responses,
                }
            )
    models = [
        {
            "name": name,
            "description": schema.get("description", ""),
            "fields": _fields(schema),
            "enum": schema.get("x-enum-labels"),
        }
        for name, schema in sorted(schemas.items())
    ]
    return render_template(
        "api/reference.html",
        info=document["info"],
        tags=document["tags"],
        by_tag=by_tag,
        models=models,
        error_example=json.dumps(
            {"error": {"code": "not_found", "message": "找不到该案件", "details": {}}},
            ensure_ascii=False,
        ),
        base_url=current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
    )
