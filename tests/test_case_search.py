"""Finding a case in the console: by case number, mobile, ID number, site or employer."""

from __future__ import annotations

import sqlalchemy as sa

from tests.test_console import sign_in, with_complainant  # noqa: F401  (fixture)
from wagedispute.models import PiiAccessLog
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
