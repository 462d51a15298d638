"""Early-warning alerts lead to the cases they are about."""

from __future__ import annotations

from tests.test_console import sign_in  # noqa: F401  (fixture)
from tests.test_warning import alerts, csv_file, staff, today, valid_uscc  # noqa: F401
from wagedispute.models import AlertKind, DisputeGroup
from wagedispute.platform.database import db
from wagedispute.supervision import alerts as alert_service


def test_alerts_link_to_their_cases_on_the_warnings_page(
    make_case,
    staff,  # noqa: F811
    sign_in,  # noqa: F811
):
    code = valid_uscc()
    case = make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司", "uscc": code}])
    alert_service.import_and_scan(
        staff("admin"),
        "a.csv",
        csv_file(f"信访,{today()},海景花园工地,深圳市海景建设有限公司,{code},沙头角,5,300,欠薪"),
    )
    group = DisputeGroup(match_key="site:东港工地", title="东港工地", workers_total=14)
    db.session.add(group)
    db.session.commit()
    grouped = make_case(group_id=group.id, workers_affected=6, site_name="东港仓库工地")
    alert_service.scan_alerts()
    [cross] = alerts(AlertKind.CROSS_CHANNEL)
    [grown] = alerts(AlertKind.GROUP_GROWTH)

    linked = alert_service.alert_cases(staff("admin"), [cross, grown])

    assert linked[cross.id] == [(case.id, case.number)]
    assert linked[grown.id] == [(grouped.id, grouped.number)]
    page = sign_in("admin").get("/console/warnings").get_data(as_text=True)
    assert f'href="/console/cases/{case.id}"' in page
    assert f'href="/console/cases/{grouped.id}"' in page
