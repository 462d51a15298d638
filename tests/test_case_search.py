"""Finding a case in the console: by case number, mobile, ID number, site or employer."""

from __future__ import annotations

import sqlalchemy as sa

from tests.test_console import post, sign_in, with_complainant  # noqa: F401  (fixture)
from wagedispute.models import Case, CaseEvent, CaseStatus, EventKind, PiiAccessLog, Role
from wagedispute.platform.database import db


def _found(client, q: str) -> str:
    answer = client.get("/console/cases", query_string={"q": q})
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_search_by_case_number_finds_that_case_only(sign_in, make_case):  # noqa: F811
    wanted = make_case(site_name="海景花园二期工地")
    other = make_case(site_name="盐田港仓库工地")
    client = sign_in("admin")

    page = _found(client, wanted.number)

    assert wanted.number in page
    assert other.number not in page
    # A part of the number works too (the clerk reads it off a phone call).
    assert wanted.number in _found(client, wanted.number[-6:])


def test_search_by_mobile_matches_the_keyed_hash_and_is_logged_like_a_reveal(
    app,
    sign_in,  # noqa: F811
    make_case,
):
    wanted = make_case(site_name="海景花园二期工地")
    other = make_case(site_name="盐田港仓库工地")
    person = with_complainant(app, wanted, "13800138000", id_number="44030819900101123X")
    person.id_number_hash = app.extensions["wagedispute.pii"].keyed_hash("44030819900101123X")
    db.session.commit()
    with_complainant(app, other, "13900139000")
    client = sign_in("admin")

    page = _found(client, "138 0013 8000")

    assert wanted.number in page
    assert other.number not in page
    assert "13800138000" not in page  # found by hash; the number itself is not shown
    logged = db.session.scalars(sa.select(PiiAccessLog)).all()
    assert [(row.case_id, row.field) for row in logged] == [(wanted.id, "search_mobile")]
    assert "手机号" in logged[0].reason

    by_id = _found(client, "44030819900101123x")
    assert wanted.number in by_id and other.number not in by_id
    fields = db.session.scalars(sa.select(PiiAccessLog.field).order_by(PiiAccessLog.id)).all()
    assert fields == ["search_mobile", "search_id_number"]


def test_search_by_site_or_employer_still_matches_words(sign_in, make_case):  # noqa: F811
    wanted = make_case(
        site_name="海景花园二期工地", employers=[{"role": "总包", "name": "深圳市海景建设有限公司"}]
    )
    other = make_case(site_name="盐田港仓库工地")
    client = sign_in("admin")

    for q in ("海景花园", "海景建设"):
        page = _found(client, q)
        assert wanted.number in page and other.number not in page
    assert db.session.scalars(sa.select(PiiAccessLog)).all() == []


def test_suspected_duplicate_is_flagged_in_list_and_case_and_merges_into_the_earlier_case(
    sign_in,  # noqa: F811
    make_case,
):
    earlier = make_case(site_name="海景花园二期工地")
    repeat = make_case(site_name="海景花园二期工地", duplicate_of_id=earlier.id)
    client = sign_in("admin")

    listing = _found(client, "海景花园")
    row = next(line for line in listing.splitlines() if repeat.number in line)
    assert "疑似重复" in row
    page = client.get(f"/console/cases/{repeat.id}").get_data(as_text=True)
    assert "疑似重复" in page and earlier.number in page and "确认重复" in page

    answer = post(
        client, f"/console/cases/{repeat.id}/merge", {}, page=f"/console/cases/{repeat.id}"
    )

    assert answer.status_code == 302
    db.session.expire_all()
    merged = db.session.get(Case, repeat.id)
    assert merged.status == CaseStatus.REJECTED
    event = db.session.scalars(
        sa.select(CaseEvent)
        .where(CaseEvent.case_id == repeat.id, CaseEvent.kind == "status")
        .order_by(CaseEvent.id.desc())
    ).first()
    assert earlier.number in event.data["reason"]
    assert db.session.get(Case, earlier.id).status == CaseStatus.RECEIVED


def test_case_page_shows_urgency_change_from_and_to(sign_in, make_case, district):  # noqa: F811
    case = make_case()
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind=EventKind.URGENCY,
            actor_role=Role.FOREMAN,
            actor_id=district["foremen"][0].id,
            data={"from": "normal", "to": "critical", "suggested": "normal", "override": True},
        )
    )
    db.session.commit()

    page = sign_in("admin").get(f"/console/cases/{case.id}").get_data(as_text=True)

    assert "一般 → <strong>特急</strong>" in page
