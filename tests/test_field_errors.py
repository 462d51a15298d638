"""The one 422 shape: ``details`` is a list of ``{field, problem, message}``, message in Chinese,
from the JSON APIs (worker, foreman, team), the H5 form and the console alike."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.errors import FALLBACK_FIELD_MESSAGE, field_errors
from tests.test_foreman_api import auth, foreman_token, member_token, members_of
from tests.test_supervision_pages import post, sign_in  # noqa: F401  (sign_in: fixture)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def assert_field_problems(body: dict, *fields: str) -> list[dict]:
    """The error is invalid_input with one Chinese message per named field."""
    error = body["error"]
    assert error["code"] == "invalid_input"
    problems = error["details"]
    assert isinstance(problems, list) and problems
    for problem in problems:
        assert set(problem) == {"field", "problem", "message"}
        assert has_chinese(problem["message"]), problem
    assert {p["field"] for p in problems} >= set(fields)
    return problems


class Everything(BaseModel):
    """A model that breaks in every common way."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=4)
    code: str = Field(min_length=3, pattern=r"^[A-Z]+$")
    count: int = Field(ge=1, le=10)
    ratio: float = Field(gt=0, lt=1)
    day: date
    kind: Literal["a", "b"]
    flag: bool
    tags: list[str] = Field(max_length=1)
    nested: dict[str, int]


def test_every_builtin_problem_gets_a_chinese_message():
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate(
            {
                "name": "",
                "code": "x",
                "count": "many",
                "ratio": "half",
                "day": "31/12/2026",
                "kind": "c",
                "flag": "perhaps",
                "tags": ["a", "b"],
                "nested": [],
                "extra": 1,
            }
        )
    problems = field_errors(caught.value)
    assert {p["field"] for p in problems} == {
        "name",
        "code",
        "count",
        "ratio",
        "day",
        "kind",
        "flag",
        "tags",
        "nested",
        "extra",
    }
    for problem in problems:
        assert has_chinese(problem["message"]), problem
        assert problem["message"] != FALLBACK_FIELD_MESSAGE, problem
    by_field = {p["field"]: p["message"] for p in problems}
    assert by_field["name"] == "此项不能为空"
    assert by_field["code"] == "至少填写 3 个字"
    assert by_field["tags"] == "最多填写 1 项"


def test_bounds_are_named_in_the_message():
    with pytest.raises(ValidationError) as caught:
        Everything.model_validate(
            {
                "name": "abcdef",
                "code": "ABC",
                "count": 11,
                "ratio": 0,
                "day": "2026-01-01",
                "kind": "a",
                "flag": True,
                "tags": [],
                "nested": {},
            }
        )
    by_field = {p["field"]: p["message"] for p in field_errors(caught.value)}
    assert by_field == {
        "name": "内容过长（最多 4 个字）",
        "count": "不能大于 10",
        "ratio": "须大于 0",
    }


def test_an_english_message_from_a_plain_validator_is_not_shown():
    class Plain(BaseModel):
        value: int

        def model_post_init(self, context: object) -> None:
            if self.value < 0:
                raise ValueError("value must be positive")

    with pytest.raises(ValidationError) as caught:
        Plain.model_validate({"value": -1})
    assert [p["message"] for p in field_errors(caught.value)] == [FALLBACK_FIELD_MESSAGE]


def test_foreman_api_names_each_bad_field_in_chinese(client, district, make_case):
    case = make_case()
    token = foreman_token(client, district["foremen"][0])
    answer = client.post(
        f"/api/v1/foreman/cases/{case.number}/urgency",
        json={"urgency": "extreme", "reason": 5, "colour": "red"},
        headers=auth(token),
    )
    assert answer.status_code == 422
    problems = assert_field_problems(answer.json, "urgency", "reason", "colour")
    assert {p["field"]: p["message"] for p in problems}["urgency"] == "请从选项中选择"


def test_team_api_names_each_bad_field_in_chinese(client, district):
    member = members_of(district["teams"][0])[0]
    token = member_token(client, member)
    answer = client.post(
        "/api/v1/team/cases/YT-2026-000001/notes",
        json={"text": "", "evidence_ids": ["one"]},
        headers=auth(token),
    )
    assert answer.status_code == 422
    problems = assert_field_problems(answer.json, "text", "evidence_ids.0")
    assert {p["field"]: p["message"] for p in problems}["text"] == "此项不能为空"


def test_console_form_lists_each_problem_in_chinese(sign_in):  # noqa: F811
    client = sign_in("supervisor")
    answer = post(client, "/console/weekly/build", {"week_start": "下周一"}, page="/console/weekly")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'data-field="week_start"' in page
    assert "日期格式应为 年-月-日" in page


def test_the_api_reference_describes_the_field_problems(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert schemas["FieldError"]["required"] == ["field", "problem", "message"]
    details = schemas["Error"]["properties"]["error"]["properties"]["details"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}} in (
        details["anyOf"]
    )
