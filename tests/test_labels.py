"""Labels: every enum carries its Chinese label, every recorded event kind is an ``EventKind`` with
one, and no raw English value reaches a person (worker timeline, console timeline)."""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

import pytest

from tests.test_supervision_pages import sign_in  # noqa: F401  (fixture)
from wagedispute import models
from wagedispute.intake.complaints import worker_timeline
from wagedispute.models import CaseEvent, EventKind, Role
from wagedispute.models.enums import LabelledEnum
from wagedispute.platform.database import db

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "wagedispute").rglob("*.py")) + sorted((REPO / "handlers").rglob("*.py"))
ENUMS = sorted(
    {
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, StrEnum)
    },
    key=lambda cls: cls.__name__,
)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("enum", ENUMS, ids=lambda cls: cls.__name__)
def test_every_enum_member_has_its_own_chinese_label(enum):
    labels = [member.label for member in enum]
    assert all(has_chinese(label) for label in labels), labels
    assert len(set(labels)) == len(labels), "two members share a label"
    if issubclass(enum, LabelledEnum):
        assert enum.labels() == {member.value: member.label for member in enum}


def _recorded_kinds() -> dict[str, list[str]]:
    """The ``kind=`` of every ``CaseEvent(...)`` in the code, as written, with where."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CaseEvent"):
                continue
            for keyword in node.keywords:
                if keyword.arg != "kind":
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                # ``A if reached else B`` records A or B.
                values = [keyword.value]
                while isinstance(values[-1], ast.IfExp):
                    branch = values.pop()
                    values += [branch.body, branch.orelse]
                for value in values:
                    found.setdefault(ast.unparse(value), []).append(where)
    return found


def test_every_recorded_event_kind_is_an_event_kind_and_every_event_kind_is_recorded():
    recorded = _recorded_kinds()
    declared = {f"EventKind.{kind.name}" for kind in EventKind}
    # Only EventKind members are written (no bare strings, no variables)...
    assert set(recorded) <= declared, {k: v for k, v in recorded.items() if k not in declared}
    # ...and no kind is declared (and labelled) that nothing records.
    assert declared <= set(recorded), declared - set(recorded)


def test_code_compares_event_kinds_with_members_not_strings():
    pattern = re.compile(r"""CaseEvent\.kind\s*(?:==|!=)\s*["']""")
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in SOURCES
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_no_copy_of_an_enum_label_table_outside_the_models():
    # A ``*_LABELS`` dict keyed by enum members is a second home for the members' labels.
    enum_names = {cls.__name__ for cls in ENUMS}
    offenders = []
    for path in SOURCES:
        if path.parent.name == "models":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)):
                continue
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            keyed_by_enum = any(
                isinstance(key, ast.Attribute)
                and getattr(key.value, "id", None) in enum_names
                or (
                    isinstance(key, ast.Attribute)
                    and isinstance(key.value, ast.Attribute)
                    and getattr(key.value.value, "id", None) in enum_names
                )
                for key in node.value.keys
            )
            if keyed_by_enum and any(name.endswith("LABELS") for name in targets):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {targets[0]}")
    assert offenders == []


def _one_event_of_every_kind(case) -> None:
    """A worker-visible event of every kind, with no message of its own and no status."""
    for kind in EventKind:
        db.session.add(
            CaseEvent(
                case_id=case.id, kind=kind, actor_role=Role.SYSTEM, data={}, worker_visible=True
            )
        )
    db.session.commit()


def test_no_raw_english_reaches_the_worker_timeline(make_case):
    case = make_case()
    _one_event_of_every_kind(case)
    timeline = worker_timeline(case)
    assert len(timeline) == len(EventKind) + 1  # the intake's own status event too
    for entry in timeline:
        assert has_chinese(entry["message"]), entry
        assert not re.search(r"[A-Za-z]", entry["message"]), entry
    messages = {entry["message"] for entry in timeline}
    assert {kind.label for kind in EventKind if kind != EventKind.STATUS} <= messages


def test_console_timeline_names_every_kind_in_chinese(make_case, sign_in):  # noqa: F811
    case = make_case()
    _one_event_of_every_kind(case)
    page = sign_in("admin").get(f"/console/cases/{case.id}").get_data(as_text=True)
    timeline = page[page.index('<ol class="timeline">') :]
    timeline = timeline[: timeline.index("</ol>")]
    visible = re.sub(r"<[^>]+>", " ", timeline)
    for kind in EventKind:
        if kind not in (EventKind.STATUS, EventKind.RATING):
            assert kind.label in visible, kind
        assert not re.search(rf"\b{kind.value}\b", visible), kind
