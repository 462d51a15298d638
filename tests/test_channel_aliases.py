"""Channel names in imported files: built-in spellings and aliases staff add in the console."""

from __future__ import annotations

import sqlalchemy as sa

from tests.test_console import post, sign_in  # noqa: F401  (fixture)
from tests.test_warning import csv_file, staff, today  # noqa: F401
from wagedispute.models import ChannelRecord
from wagedispute.platform.database import db
from wagedispute.supervision import alerts as alert_service
from wagedispute.supervision import channel_imports


def test_channel_alias_added_in_the_console_lets_12345_hotline_and_wechat_rows_import(
    sign_in,  # noqa: F811
    staff,  # noqa: F811
    district,
):
    rows = csv_file(
        f"１２３４５热线,{today()},海景花园工地,深圳市海景建设有限公司,,沙头角,5,300,欠薪",
        f"微信公众号,{today()},东港仓库工地,深圳市东港建设有限公司,,沙头角,2,100,欠薪",
    )
    before = alert_service.import_and_scan(staff("admin"), "a.csv", rows)
    assert [e.message for e in before.errors if "渠道" in e.message]  # 微信公众号 unknown yet
    assert db.session.scalars(sa.select(ChannelRecord.channel)).all() == ["12345"]

    client = sign_in("admin")
    answer = post(
        client,
        "/console/warnings/aliases",
        {"alias": "微信 公众号", "channel": "12345"},
        page="/console/warnings",
    )
    assert answer.status_code == 302
    page = client.get("/console/warnings").get_data(as_text=True)
    assert "微信公众号 → 12345/民意速办" in page

    after = alert_service.import_and_scan(staff("admin"), "b.csv", rows)
    assert after.errors == []
    channels = sorted(db.session.scalars(sa.select(ChannelRecord.channel)).all())
    assert channels == ["12345", "12345"]
    assert channel_imports.parse_channel("微信公众号") == "12345"


def test_street_staff_cannot_edit_channel_aliases(sign_in, district):  # noqa: F811
    answer = post(
        sign_in("shatoujiao"),
        "/console/warnings/aliases",
        {"alias": "微信公众号", "channel": "12345"},
        page="/console/warnings",
    )
    assert answer.status_code in {403, 404}
    assert channel_imports.parse_channel("微信公众号") is None
