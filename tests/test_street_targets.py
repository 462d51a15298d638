"""Per-street targets: a street's form holds the street's own targets, never the district's."""

from __future__ import annotations

import re

from tests.test_console import post, sign_in  # noqa: F401  (fixture)
from wagedispute.supervision.indicators import list_targets

YEAR = 2026


def _form(page: str, scope: str) -> str:
    match = re.search(rf'<form[^>]*data-scope-form="{scope}".*?</form>', page, re.S)
    assert match, scope
    return match.group(0)


def test_saving_a_street_keeps_its_own_targets_and_the_districts(sign_in, district):  # noqa: F811
    client = sign_in("admin")
    street = district["streets"]["shatoujiao"]
    post(
        client,
        "/console/targets",
        {"year": YEAR, "street": "", "on_time_rate": "90"},
        page="/console/targets",
    )
    post(
        client,
        "/console/targets",
        {"year": YEAR, "street": street.id, "on_time_rate": "80"},
        page="/console/targets",
    )

    page = client.get(f"/console/targets?year={YEAR}").get_data(as_text=True)
    street_form = _form(page, f"street:{street.id}")
    assert re.search(r'name="on_time_rate"[^>]*value="80(\.0)?"', street_form)
    district_form = _form(page, "district")
    assert re.search(r'name="on_time_rate"[^>]*value="90(\.0)?"', district_form)

    # Saving the street form exactly as shown changes nothing anywhere.
    post(
        client,
        "/console/targets",
        {"year": YEAR, "street": street.id, "on_time_rate": "80.0"},
        page="/console/targets",
    )
    values = {(t.scope, t.indicator): t.value for t in list_targets(YEAR)}
    assert values[("district", "on_time_rate")] == 90
    assert values[(f"street:{street.id}", "on_time_rate")] == 80
