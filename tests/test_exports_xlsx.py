"""XLSX exports a clerk can use at once: real dates, sized columns, frozen header, Chinese names."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl

from tests.test_supervision import staff  # noqa: F401  (fixture)
from wagedispute.platform.timekeeping import in_district
from wagedispute.supervision import exports


def test_case_export_xlsx_has_real_dates_widths_frozen_header_and_a_chinese_name(
    make_case,
    staff,  # noqa: F811
):
    case = make_case(
        site_name="海景花园二期工地（东区三标段）",
        employers=[{"role": "总包", "name": "深圳市海景建设工程有限公司"}],
    )

    export = exports.export_cases(staff("admin"), "xlsx")

    assert export.filename.startswith("盐田区欠薪投诉案件-") and export.filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    header = [cell.value for cell in sheet[1]]
    assert sheet.freeze_panes == "A2"
    received = sheet.cell(row=2, column=header.index("受理时间") + 1)
    assert isinstance(received.value, datetime)
    assert received.value == in_district(case.created_at).replace(
        tzinfo=None, second=0, microsecond=0
    )
    assert received.number_format == exports.DATETIME_FORMAT
    amount = sheet.cell(row=2, column=header.index("欠薪金额（元）") + 1)
    assert amount.value == 12000 and amount.number_format == exports.MONEY_FORMAT
    site_column = openpyxl.utils.get_column_letter(header.index("工地名称") + 1)
    # 15 Chinese characters take about 30 spreadsheet characters.
    assert sheet.column_dimensions[site_column].width >= 30


def test_case_export_csv_writes_times_as_readable_text(make_case, staff):  # noqa: F811
    case = make_case()

    export = exports.export_cases(staff("admin"), "csv")

    text = export.data.decode("utf-8-sig")
    assert in_district(case.created_at).strftime("%Y-%m-%d %H:%M") in text
    assert export.filename.endswith(".csv") and "案件" in export.filename
