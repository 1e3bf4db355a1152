"""Reading the Stream order upload layout: whole-file checks, every row checked, errors by line and column."""

from datetime import date, time
from decimal import Decimal

import pytest

from orders import imports
from orders.domain import Actor
from orders.models import ImportJob, Order
from orders.representation import order_dict, with_related

from .importing import SAMPLE, csv_file, row, upload

pytestmark = pytest.mark.django_db


def run(data, actor=None):
    job = imports.start_import(upload(data), actor=actor or Actor.system())
    imports.run_job(job.pk)
    job.refresh_from_db()
    return job


def refused(data):
    with pytest.raises(imports.ImportFileError) as caught:
        imports.start_import(upload(data), actor=Actor.system())
    assert ImportJob.objects.count() == 0
    return caught.value.status, caught.value.message


# --- The sample file ----------------------------------------------------------------------------


def test_the_sample_file_makes_three_orders_as_the_api_would(depots, office_user):
    job = run(SAMPLE.read_bytes(), Actor.for_user(office_user))

    assert imports.job_representation(job) == {
        "id": job.pk,
        "state": "done",
        "total_rows": 4,
        "processed_rows": 4,
        "created": ["SAMPLE-1001", "SAMPLE-1002", "SAMPLE-1003"],
        "errors": [],
    }
    first = order_dict(with_related().get(order_no="SAMPLE-1001"))
    assert first["customer"] == {
        "name": "Ann Smith",
        "mobile": "07700 900123",
        "email": "ann.smith@example.com",
        "phone": "0121 496 0000",
    }
    assert first["address"] == {
        "line1": "12 High Street",
        "line2": "",
        "line3": "",
        "town": "Birmingham",
        "county": "West Midlands",
        "postal_code": "B2 4QA",
        "country": "GB",
        "lat": None,
        "lng": None,
    }
    assert first["order_date"] == date.today().isoformat()
    assert first["customer_reference"] == "PO-55120"
    assert first["service_level"] == "2MAN-ROC"
    assert first["unload_minutes"] == 20
    assert (first["required_time_from"], first["required_time_to"]) == ("09:00:00", "13:00:00")
    assert first["order_notes"] == "Gate code 1234\nRetailer: Oakfield Furniture"
    assert first["driver_notes"] == "Park on the drive"
    assert first["source"] == "user:olive"
    assert [
        (line["line_no"], line["sku"], line["description"], line["quantity"], line["weight_kg"], line["cube_m3"])
        for line in first["lines"]
    ] == [(1, "SOFA-3", "Three-seat sofa, grey", 1, 48.5, 1.9), (2, "CUSH-2", "Scatter cushions (pair)", 2, 1.2, 0.05)]
    assert [line["assembly_minutes"] for line in first["lines"]] == [30, 0]
    # Stock at MAN for a BHM fleet: the trunking rule made a movement, as for an API order.
    second = order_dict(with_related().get(order_no="SAMPLE-1002"))
    assert [(m["from_location"], m["to_location"]) for m in second["movements"]] == [("MAN", "BHM")]
    assert second["status"] == "awaiting_stock"
    # A blank Stock_Location with no default configured: the stock is at the fleet's own depot.
    third = order_dict(with_related().get(order_no="SAMPLE-1003"))
    assert third["lines"][0]["stock_location"] == "BHM"
    assert (third["address"]["lat"], third["address"]["lng"]) == (52.4791, -1.9025)


# --- Whole-file checks --------------------------------------------------------------------------


def test_a_file_with_a_bom_and_windows_line_endings_is_read(depots):
    data = csv_file([row("IMP-1"), row("IMP-2")], bom=True, newline="\r\n")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data

    job = run(data)

    assert (job.state, job.created, job.errors) == ("done", ["IMP-1", "IMP-2"], [])


def test_unix_and_old_mac_line_endings_are_read_too(depots):
    for newline, order_no in (("\n", "IMP-LF"), ("\r", "IMP-CR")):
        job = run(csv_file([row(order_no)], newline=newline))
        assert (job.created, job.errors) == ([order_no], [])


def test_a_windows_1252_file_is_refused_in_words(depots):
    data = csv_file([row("IMP-1"), row("IMP-2", Del_Name="Zoë Brontë")], encoding="cp1252")

    assert refused(data) == (
        400,
        "The file is not UTF-8 text: line 3 has the byte 0xEB, which UTF-8 does not allow (the file was probably "
        "saved as Windows “CSV (Comma delimited)”). In Excel choose File › Save As › "
        '"CSV UTF-8 (Comma delimited) (*.csv)" and upload it again.',
    )


def test_a_utf16_file_is_refused_in_words(depots):
    data = csv_file([row()], encoding="utf-16")

    assert refused(data) == (
        400,
        "The file is UTF-16 text (Excel's “Unicode Text”), not UTF-8. In Excel choose File › Save As › "
        '"CSV UTF-8 (Comma delimited) (*.csv)" and upload it again.',
    )


def test_a_spreadsheet_file_is_refused_as_not_csv(depots):
    data = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00workbook.xml"

    status, message = refused(data)

    assert status == 415
    assert message.startswith("The file is not a CSV text file (it holds binary data, as a spreadsheet .xlsx does).")


def test_missing_and_unknown_columns_are_named(depots):
    columns = [c for c in imports.COLUMNS if c not in ("Item_Qty", "Ctry_Code")] + ["Colour", "Size"]

    assert refused(csv_file([row()], columns=columns)) == (
        400,
        "The header lacks 2 columns: Ctry_Code, Item_Qty. The header names 2 unknown columns: Colour, Size. "
        "The first line must name every column of the layout; see the sample file.",
    )


def test_a_repeated_column_is_named(depots):
    columns = [*imports.COLUMNS, "Item_Qty"]

    assert refused(csv_file([row()], columns=columns)) == (
        400,
        "The header names Item_Qty more than once. "
        "The first line must name every column of the layout; see the sample file.",
    )


def test_column_names_are_read_whatever_their_case_and_spaces_and_empty_trailing_columns_are_ignored(depots):
    columns = [f" {c.upper()} " for c in imports.COLUMNS] + ["", ""]
    text = ",".join(columns) + "\r\n" + ",".join(f'"{row()[c]}"' for c in imports.COLUMNS) + ",,\r\n"

    job = run(text.encode())

    assert (job.created, job.errors) == (["IMP-1"], [])


def test_a_semicolon_separated_file_is_refused_with_the_reason(depots):
    text = ";".join(imports.COLUMNS) + "\n" + ";".join(row().values()) + "\n"

    assert refused(text.encode()) == (
        400,
        "The columns are separated by semicolons; the layout separates them by commas. "
        "The first line must name every column of the layout; see the sample file.",
    )


def test_empty_files_and_files_without_rows_are_refused(depots):
    assert refused(b"") == (400, "The file is empty.")
    assert refused(b"\r\n\r\n") == (400, "The file is empty.")
    assert refused(csv_file([])) == (400, "The file has a header but no rows of orders.")


def test_a_file_over_the_limit_is_refused_with_413(depots, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024

    status, message = refused(csv_file([row(f"IMP-{i}") for i in range(12000)]))

    assert (status, message) == (413, "The file is larger than the 1 MB limit; split it in two.")


# --- Rows ---------------------------------------------------------------------------------------


def test_an_order_with_a_bad_row_is_not_created_and_the_others_are(depots):
    rows = [
        row("IMP-1"),
        row("IMP-2", Item_Code="A"),
        row("IMP-2", Item_Code="B", Item_Qty="two"),
        row("IMP-3"),
    ]

    job = run(csv_file(rows))

    assert imports.job_representation(job) == {
        "id": job.pk,
        "state": "done",
        "total_rows": 4,
        "processed_rows": 4,
        "created": ["IMP-1", "IMP-3"],
        "errors": [{"row": 4, "column": "Item_Qty", "order_no": "IMP-2", "message": "'two' is not a whole number."}],
    }
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["IMP-1", "IMP-3"]


def test_bad_dates_and_times_are_reported_by_line_and_column(depots):
    rows = [
        row("IMP-1", Order_Date="2026-12-01"),
        row("IMP-2", Required_Date="31/02/2027", Required_Time_F="9am"),
        row("IMP-3", Item_Onhand_Date="tomorrow", Unload_Time="20 min", Required_Time_T="25:00"),
        row("IMP-4", Order_Date="today", Required_Date="3/1/2027"),
    ]

    job = run(csv_file(rows))

    assert job.errors == [
        {
            "row": 2,
            "column": "Order_Date",
            "order_no": "IMP-1",
            "message": "'2026-12-01' is not a date in DD/MM/YYYY form (or TODAY).",
        },
        {
            "row": 3,
            "column": "Required_Date",
            "order_no": "IMP-2",
            "message": "31/02/2027 is not a real date (day 31 of month 2).",
        },
        {
            "row": 3,
            "column": "Required_Time_F",
            "order_no": "IMP-2",
            "message": "'9am' is not a time of day in HH:MM form, such as 09:30.",
        },
        {
            "row": 4,
            "column": "Unload_Time",
            "order_no": "IMP-3",
            "message": "'20 min' is not a length of time in HH:MM form, such as 00:30 for half an hour.",
        },
        {
            "row": 4,
            "column": "Required_Time_T",
            "order_no": "IMP-3",
            "message": "'25:00' is not a time of day in HH:MM form, such as 09:30.",
        },
        {
            "row": 4,
            "column": "Item_Onhand_Date",
            "order_no": "IMP-3",
            "message": "'tomorrow' is not a date in DD/MM/YYYY form (or TODAY).",
        },
    ]
    assert job.created == ["IMP-4"]
    order = Order.objects.get(order_no="IMP-4")
    assert (order.order_date, order.required_date) == (date.today(), date(2027, 1, 3))


def test_unknown_and_inactive_codes_are_reported_with_the_apis_words(depots):
    from orders.models import DeliveryMethod

    DeliveryMethod.objects.filter(code="LDS-VANS").update(active=False)
    rows = [
        row("IMP-1", Stock_Location="XXX"),
        row("IMP-2", Delivery_Method="LDS-VANS"),
        row("IMP-3", Service_Lv="GOLD"),
        row("IMP-4", Service_Lv="2MAN-ROC"),
    ]

    job = run(csv_file(rows))

    assert job.errors == [
        {
            "row": 2,
            "column": "Stock_Location",
            "order_no": "IMP-1",
            "message": "Unknown or inactive stock location code 'XXX'.",
        },
        {
            "row": 3,
            "column": "Delivery_Method",
            "order_no": "IMP-2",
            "message": "Unknown or inactive delivery method code 'LDS-VANS'.",
        },
        {
            "row": 4,
            "column": "Service_Lv",
            "order_no": "IMP-3",
            "message": "Unknown or inactive service level code 'GOLD'.",
        },
    ]
    assert job.created == ["IMP-4"]


def test_formula_looking_cells_are_text_never_evaluated(depots):
    rows = [
        row(
            "IMP-1",
            Del_Name='=HYPERLINK("http://evil.example","Ann")',
            Item_Desc="@SUM(A1:A9)",
            Driver_Notes="-call first",
            Contact_Tel_1="+44 121 496 0000",
        ),
        row("IMP-2", Item_Qty="=1+2"),
        row("IMP-3", Item_Qty="-5"),
        row("IMP-4", Item_Wgt="+3"),
    ]

    job = run(csv_file(rows))

    assert job.created == ["IMP-1"]
    order = Order.objects.get(order_no="IMP-1")
    assert order.customer_name == '=HYPERLINK("http://evil.example","Ann")'
    assert order.driver_notes == "-call first"
    assert order.customer_phone == "+44 121 496 0000"
    assert order.lines.get().description == "@SUM(A1:A9)"
    assert job.errors == [
        {"row": 3, "column": "Item_Qty", "order_no": "IMP-2", "message": "'=1+2' is not a whole number."},
        {
            "row": 4,
            "column": "Item_Qty",
            "order_no": "IMP-3",
            "message": "Ensure this value is greater than or equal to 1.",
        },
        {
            "row": 5,
            "column": "Item_Wgt",
            "order_no": "IMP-4",
            "message": "'+3' is not a number (use a point for decimals, such as 12.5).",
        },
    ]


def test_order_level_rules_come_from_the_api_and_land_on_the_right_line(depots):
    rows = [
        row("IMP-1", Postal_Code="XYZ"),
        row("IMP-2", Del_Addr_1="", Postal_Code=""),
        row("IMP-3", Contact_Email="not-an-email"),
        row("IMP-4", Required_Time_F="14:00", Required_Time_T="12:00"),
        row("IMP-5", Item_Code="A"),
        row("IMP-5", Item_Code="", Item_Desc="no code"),
        row("IMP-6", Del_Name=""),
    ]

    job = run(csv_file(rows))

    assert job.created == []
    assert job.errors == [
        {"row": 2, "column": "Postal_Code", "order_no": "IMP-1", "message": "'XYZ' is not a valid postal code for GB."},
        {
            "row": 3,
            "column": "Del_Addr_1",
            "order_no": "IMP-2",
            "message": "An address needs line1, postal_code and country, or lat and lng.",
        },
        {"row": 4, "column": "Contact_Email", "order_no": "IMP-3", "message": "Enter a valid email address."},
        {"row": 5, "column": "Required_Time_T", "order_no": "IMP-4", "message": "The window must end after it starts."},
        {"row": 7, "column": "Item_Code", "order_no": "IMP-5", "message": "This field may not be blank."},
        {"row": 8, "column": "Del_Name", "order_no": "IMP-6", "message": "This field may not be blank."},
    ]


def test_the_lines_of_one_order_must_agree_on_its_details(depots):
    rows = [
        row("IMP-1", Item_Code="A"),
        row("IMP-1", Item_Code="B", Del_Name="", Postal_Code="", Del_Addr_1=""),  # blank: the first line's
        row("IMP-1", Item_Code="C", Postal_Code="B1 1AA"),
        row("IMP-2"),
    ]

    job = run(csv_file(rows))

    assert job.created == ["IMP-2"]
    assert job.errors == [
        {
            "row": 4,
            "column": "Postal_Code",
            "order_no": "IMP-1",
            "message": "Differs from line 2, the order's first line (b2 4qa). The lines of one order carry the "
            "same order details, or leave them blank.",
        }
    ]


def test_rows_of_one_order_need_not_be_together(depots):
    rows = [row("IMP-1", Item_Code="A"), row("IMP-2"), row("IMP-1", Item_Code="B")]

    job = run(csv_file(rows))

    assert job.created == ["IMP-2", "IMP-1"]
    assert list(Order.objects.get(order_no="IMP-1").lines.values_list("line_no", "sku")) == [(1, "A"), (2, "B")]


def test_an_order_number_that_exists_is_reported_and_the_order_left_alone(depots, make_order):
    make_order("IMP-1")

    job = run(csv_file([row("IMP-1", Del_Name="Someone Else"), row("IMP-2")]))

    assert job.created == ["IMP-2"]
    assert job.errors == [
        {"row": 2, "column": "Order_No", "order_no": "IMP-1", "message": "An order with order_no IMP-1 already exists."}
    ]
    assert Order.objects.get(order_no="IMP-1").customer_name == "Ann Smith"


def test_blank_order_numbers_extra_cells_and_quoted_newlines(depots):
    text = (
        ",".join(imports.COLUMNS)
        + "\r\n"
        + ",".join(f'"{v}"' for v in row("IMP-1", Driver_Notes="Side door\r\nthen left").values())
        + "\r\n"
        + ",".join(f'"{v}"' for v in row("").values())
        + "\r\n"
        + ",".join(f'"{v}"' for v in row("IMP-3").values())
        + ",surplus\r\n"
    )

    job = run(text.encode())

    assert job.created == ["IMP-1"]
    assert Order.objects.get(order_no="IMP-1").driver_notes == "Side door\r\nthen left"
    assert job.errors == [
        {
            "row": 4,
            "column": "Order_No",
            "order_no": None,
            "message": "Order_No is blank: every row must name its order.",
        },
        {
            "row": 5,
            "column": None,
            "order_no": "IMP-3",
            "message": "This line has 36 cells but the header names 35 columns; a value holding a comma must be "
            "in double quotes.",
        },
    ]


def test_assembly_yes_needs_a_time_and_no_refuses_one(depots):
    rows = [
        row("IMP-1", Assembly="Yes", Assy_Time="01:15"),
        row("IMP-2", Assembly="Yes"),
        row("IMP-3", Assembly="No", Assy_Time="00:30"),
        row("IMP-4", Assembly="maybe"),
    ]

    job = run(csv_file(rows))

    assert job.created == ["IMP-1"]
    assert Order.objects.get(order_no="IMP-1").lines.get().assembly_minutes == 75
    assert [(e["row"], e["column"], e["message"]) for e in job.errors] == [
        (3, "Assy_Time", "Assembly is Yes, so Assy_Time needs the time it takes, as HH:MM."),
        (4, "Assy_Time", "Assembly is No but Assy_Time is not 00:00: set Assembly to Yes or clear it."),
        (5, "Assembly", "'maybe' is neither Yes nor No."),
    ]


def test_blank_codes_take_the_configured_defaults(depots, settings):
    settings.IMPORT_DEFAULT_STOCK_LOCATION = "MAN"
    settings.IMPORT_DEFAULT_DELIVERY_METHOD = "BHM-VANS"

    job = run(csv_file([row("IMP-1", Stock_Location="", Delivery_Method="", Ctry_Code="uk")]))

    assert job.created == ["IMP-1"]
    order = Order.objects.get(order_no="IMP-1")
    line = order.lines.select_related("stock_location", "delivery_method").get()
    assert (line.stock_location.code, line.delivery_method.code, order.country) == ("MAN", "BHM-VANS", "GB")


def test_a_blank_delivery_method_without_a_default_is_an_error(depots):
    job = run(csv_file([row("IMP-1", Delivery_Method="")]))

    assert job.errors == [
        {
            "row": 2,
            "column": "Delivery_Method",
            "order_no": "IMP-1",
            "message": "Delivery_Method is blank and no default fleet is configured.",
        }
    ]


def test_values_are_converted_as_documented(depots):
    rows = [
        row(
            "IMP-1",
            Item_Qty="3",
            Item_Wgt="12.250",
            Item_Vol="0.5",
            Item_Onhand_Date="05/01/2027",
            Required_Time_F="8:00",
            Required_Time_T="12:30",
            Unload_Time="01:05",
            Contact_Tel_1="0121 1",
            Contact_Tel_2="0121 2",
        )
    ]

    job = run(csv_file(rows))

    assert job.errors == []
    order = Order.objects.get(order_no="IMP-1")
    line = order.lines.get()
    assert (line.quantity, line.weight_kg, line.cube_m3, line.on_hand_date) == (
        3,
        Decimal("12.250"),
        Decimal("0.5000"),
        date(2027, 1, 5),
    )
    assert (order.required_time_from, order.required_time_to, order.unload_minutes) == (time(8), time(12, 30), 65)
    assert (order.customer_phone, order.order_notes) == ("0121 1", "Other phone: 0121 2")
