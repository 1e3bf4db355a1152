"""The imports page, the job's progress panel, the sample file and the list's CSV export."""

import csv
import io
import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from orders import imports
from orders.models import ImportJob, Order

from .importing import SAMPLE, csv_file, row, upload

PAGES = [
    ("get", "/imports/"),
    ("post", "/imports/"),
    ("get", "/imports/1/"),
    ("get", "/imports/sample.csv"),
    ("get", "/orders/export.csv"),
]


@pytest.mark.parametrize(("method", "url"), PAGES)
def test_anonymous_users_are_sent_to_login(db, method, url):
    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_the_page_offers_the_upload_form_and_the_sample(office, django_assert_num_queries):
    with django_assert_num_queries(2):  # user, recent jobs (the session from the cache)
        response = office.get("/imports/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="import-file">Order file (CSV, up to 64 MB)</label>' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'href="/imports/sample.csv" download' in html
    assert 'aria-current="page">Imports</a>' in html


def test_uploading_a_file_starts_a_job_and_its_page_polls_until_done(office, office_user, depots, htmx_headers):
    data = csv_file([row("IMP-1"), row("IMP-2", Postal_Code="NOPE")])

    response = office.post("/imports/", {"file": upload(data, "monday.csv")})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/"
    assert (job.state, job.started_by_user, job.file_name) == ("queued", office_user, "monday.csv")

    page = office.get(f"/imports/{job.pk}/").content.decode()
    assert f'hx-get="/imports/{job.pk}/" hx-trigger="every 1s" hx-swap="outerHTML"' in page
    assert '<progress id="import-bar" class="import-bar" max="2" value="0">0%</progress>' in page
    assert "0 of 2 rows (0%)" in page

    imports.run_job(job.pk)
    response = office.get(f"/imports/{job.pk}/", headers=htmx_headers)

    fragment = response.content.decode()
    assert response.status_code == 200
    assert response["Vary"] == "HX-Request, Cookie"
    assert fragment.lstrip().startswith('<section id="import-progress"')
    assert "<h1>" not in fragment and "hx-get" not in fragment  # done: the polling stops
    assert '<progress id="import-bar" class="import-bar" max="2" value="2">100%</progress>' in fragment
    assert "1 order created." in fragment and "1 problem found" in fragment
    assert '<a href="/orders/IMP-1/">IMP-1</a>' in fragment
    assert (
        "<tr><td>3</td><td>Postal_Code</td><td>IMP-2</td>"
        "<td>&#x27;NOPE&#x27; is not a valid postal code for GB.</td></tr>" in fragment
    )
    assert Order.objects.get().source == "user:olive"


def test_a_refused_file_is_reported_beside_the_field_and_changes_nothing(office, depots):
    data = csv_file([row(Del_Name="Zoë")], encoding="cp1252")

    response = office.post("/imports/", {"file": upload(data)})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'aria-invalid="true" aria-describedby="import-file-error"' in html
    assert (
        '<ul class="errorlist" id="import-file-error"><li>The file is not UTF-8 text: line 2 has the byte 0xEB' in html
    )
    assert ImportJob.objects.count() == 0


def test_posting_without_a_file_or_without_the_csrf_token_is_refused(office_user, office, depots):
    response = office.post("/imports/", {})
    assert response.status_code == 400
    assert "Choose a CSV file to import." in response.content.decode()

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(office_user)
    assert strict.post("/imports/", {"file": upload(csv_file([row()]))}).status_code == 403
    assert ImportJob.objects.count() == 0


def test_an_unknown_job_is_404(office):
    assert office.get("/imports/999/").status_code == 404


def test_the_sample_file_downloads(office):
    response = office.get("/imports/sample.csv")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="sample-import.csv"'
    assert b"".join(response.streaming_content) == SAMPLE.read_bytes()


# --- Export -------------------------------------------------------------------------------------


def exported(response):
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_export_streams_the_filtered_list_with_formula_cells_escaped(office, make_order):
    make_order("SO-1", required_date="2027-01-05")
    make_order(
        "SO-2",
        required_date="2027-01-06",
        customer={"name": '=HYPERLINK("http://x","y")', "mobile": "+447700900123", "email": "x@example.com"},
        driver_notes="-ring first\tnow",
        customer_reference="@ref",
    )
    make_order("SO-3", required_date="2027-02-01")

    response = office.get(
        "/orders/export.csv", {"required_from": "2027-01-01", "required_to": "2027-01-31", "sort": "order_no"}
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="orders-{date.today().isoformat()}.csv"'
    rows = exported(response)
    header = rows[0]
    assert header[:4] == ["order_no", "status", "order_type", "order_date"]
    assert [r[0] for r in rows[1:]] == ["SO-1", "SO-2"]
    second = dict(zip(header, rows[2], strict=True))
    assert second["customer_name"] == '\'=HYPERLINK("http://x","y")'
    assert second["customer_mobile"] == "'+447700900123"
    assert second["customer_reference"] == "'@ref"
    assert second["driver_notes"] == "'-ring first\tnow"
    assert (second["required_date"], second["lines"], second["quantity"]) == ("2027-01-06", "1", "1")
    assert (second["stock_locations"], second["delivery_methods"], second["postal_code"]) == (
        "BHM",
        "BHM-VANS",
        "B2 4QA",
    )


def test_every_formula_start_is_escaped_and_nothing_else():
    from orders.exports import spreadsheet_safe

    assert [spreadsheet_safe(v) for v in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx", "plain", "", None, 3)] == [
        "'=1+2",
        "'+1",
        "'-1",
        "'@A1",
        "'\tx",
        "'\rx",
        "plain",
        "",
        "",
        "3",
    ]


@pytest.mark.parametrize("orders", [2, 12])
def test_the_export_costs_the_same_queries_for_any_number_of_orders(
    office, make_order, django_assert_num_queries, orders
):
    for n in range(orders):
        make_order(f"SO-{n}")

    with django_assert_num_queries(3):  # user, orders, their lines (the session from the cache)
        rows = exported(office.get("/orders/export.csv"))

    assert len(rows) == orders + 1


def test_bad_export_filters_are_refused_in_words(office, depots):
    response = office.get("/orders/export.csv", {"status": "lost", "required_from": "yesterday"})

    assert response.status_code == 400
    assert response.content.decode() == (
        "The filters are not valid:\n"
        "status: Select a valid choice. lost is not one of the available choices.\n"
        "required_from: Enter a valid date."
    )


def test_the_order_list_links_to_the_export_with_its_filters(office, make_order):
    make_order("SO-1")

    html = office.get("/orders/", {"status": "ready", "page": "2"}).content.decode()

    assert f'<a href="{reverse("orders:order_export")}?status=ready" download>Export these orders as CSV</a>' in html


def test_recent_imports_are_listed_with_constant_queries(office, office_user, alice, depots, django_assert_num_queries):
    from orders.domain import Actor

    imports.start_import(upload(csv_file([row()]), "by-olive.csv"), actor=Actor.for_user(office_user))
    for n in range(3):
        imports.start_import(upload(csv_file([row()]), f"api-{n}.csv"), actor=Actor.for_client(alice[0]))

    with django_assert_num_queries(2):  # user, recent jobs
        html = office.get("/imports/").content.decode()

    assert len(re.findall(r'<a href="/imports/\d+/">#\d+</a>', html)) == 4
    assert "<td>by-olive.csv</td>\n          <td>olive</td>" in html
    assert "<td>API: alice-erp</td>" in html


def test_an_upload_over_the_limit_is_refused_before_it_is_read(office, depots, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024

    response = office.post("/imports/", {"file": upload(csv_file([row(f"IMP-{i}") for i in range(10000)]))})

    assert response.status_code == 413
    assert response.content.decode() == (
        "The file is larger than the 1 MB limit; split it in two and go back to upload it."
    )
    assert ImportJob.objects.count() == 0
