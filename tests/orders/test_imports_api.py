"""POST /api/v1/orders/import/ and GET /api/v1/import-jobs/{id}/: shapes, refusals and ownership."""

import json

import pytest

from orders import imports
from orders.models import ImportJob, Order

from .importing import SAMPLE, csv_file, row, upload

pytestmark = pytest.mark.django_db

IMPORT_URL = "/api/v1/orders/import/"


def post_file(api, data, name="orders.csv"):
    return api.client.post(IMPORT_URL, {"file": upload(data, name)})


def job_url(job_id):
    return f"/api/v1/import-jobs/{job_id}/"


def test_posting_a_file_answers_202_with_the_queued_job_and_the_job_shows_the_outcome(alice_api, alice, depots):
    rows = [row("IMP-1"), row("IMP-2", Item_Qty="=2*3")]

    response = post_file(alice_api, csv_file(rows))

    job = ImportJob.objects.get()
    assert response.status_code == 202
    assert response["Location"] == job_url(job.pk)
    assert response.json() == {
        "id": job.pk,
        "state": "queued",
        "total_rows": 2,
        "processed_rows": 0,
        "created": [],
        "errors": [],
    }
    assert (job.started_by_client, job.file_name) == (alice[0], "orders.csv")

    imports.run_job(job.pk)
    response = alice_api.get(job_url(job.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": job.pk,
        "state": "done",
        "total_rows": 2,
        "processed_rows": 2,
        "created": ["IMP-1"],
        "errors": [{"row": 3, "column": "Item_Qty", "order_no": "IMP-2", "message": "'=2*3' is not a whole number."}],
    }
    # The created order is the client's own, as if it had been posted to /api/v1/orders/.
    assert alice_api.get("/api/v1/orders/IMP-1/").json()["source"] == "api_client:alice-erp"


def test_the_sample_file_is_accepted(alice_api, depots):
    response = post_file(alice_api, SAMPLE.read_bytes(), "sample-import.csv")

    assert response.status_code == 202
    assert response.json()["total_rows"] == 4


def test_another_clients_job_is_404_and_orders_all_sees_it(alice_api, bob_api, ops_api, depots):
    job_id = post_file(alice_api, csv_file([row()])).json()["id"]

    assert bob_api.get(job_url(job_id)).status_code == 404
    assert bob_api.get(job_url(job_id)).json() == {"detail": "No such import job."}
    assert alice_api.get(job_url(job_id + 1000)).status_code == 404
    assert ops_api.get(job_url(job_id)).status_code == 200


def test_scopes_are_checked(reader_api, anon_api, alice_api, depots):
    assert post_file(reader_api, csv_file([row()])).status_code == 403
    assert post_file(anon_api, csv_file([row()])).status_code == 401
    job_id = post_file(alice_api, csv_file([row()])).json()["id"]
    assert anon_api.get(job_url(job_id)).status_code == 401
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "status", "body"),
    [
        (
            csv_file([row(), row("IMP-2", Del_Name="Zoë")], encoding="cp1252"),
            400,
            {
                "errors": {
                    "file": [
                        "The file is not UTF-8 text: line 3 has the byte 0xEB, which UTF-8 does not allow (the file "
                        "was probably saved as Windows “CSV (Comma delimited)”). In Excel choose File › Save As › "
                        '"CSV UTF-8 (Comma delimited) (*.csv)" and upload it again.'
                    ]
                }
            },
        ),
        (
            csv_file([row()], columns=imports.COLUMNS[:-1]),
            400,
            {
                "errors": {
                    "file": [
                        "The header lacks 1 column: Delivery_Method. "
                        "The first line must name every column of the layout; see the sample file."
                    ]
                }
            },
        ),
        (b"", 400, {"errors": {"file": ["The file is empty."]}}),
        (
            b"\x00\x01\x02binary",
            415,
            {
                "detail": "The file is not a CSV text file (it holds binary data, as a spreadsheet .xlsx does). "
                'In Excel choose File › Save As › "CSV UTF-8 (Comma delimited) (*.csv)" and upload it again.'
            },
        ),
    ],
    ids=["wrong-encoding", "missing-column", "empty", "binary"],
)
def test_bad_files_are_refused_in_the_api_error_shape_and_change_nothing(alice_api, depots, data, status, body):
    response = post_file(alice_api, data)

    assert (response.status_code, response.json()) == (status, body)
    assert ImportJob.objects.count() == 0 and Order.objects.count() == 0


def test_a_body_without_a_file_is_400_and_json_is_415(alice_api, depots):
    response = alice_api.client.post(IMPORT_URL, {"other": "x"})
    assert (response.status_code, response.json()) == (
        400,
        {"errors": {"file": ["Attach the CSV file in the multipart field `file`."]}},
    )

    response = alice_api.post(IMPORT_URL, {"file": "Order_No\n1"})
    assert (response.status_code, response.json()) == (
        415,
        {"detail": 'Unsupported media type "application/json" in request.'},
    )
    assert ImportJob.objects.count() == 0


def test_a_body_over_the_import_limit_is_413_before_it_is_read(alice_api, depots, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024

    response = post_file(alice_api, csv_file([row(f"IMP-{i}") for i in range(10000)]))

    assert (response.status_code, response.json()) == (
        413,
        {"detail": "The request body is larger than the 1 MB limit."},
    )
    assert ImportJob.objects.count() == 0


def test_the_import_url_is_not_taken_for_an_order_number(alice_api, depots):
    # GET on the import URL is not an order lookup: the view only takes POST.
    response = alice_api.get(IMPORT_URL)

    assert (response.status_code, response.json()) == (405, {"detail": 'Method "GET" not allowed.'})


def test_the_endpoints_are_in_the_openapi_schema(anon_api):
    schema = json.loads(anon_api.client.get("/api/schema/?format=json").content)

    upload_op = schema["paths"]["/api/v1/orders/import/"]["post"]
    assert list(upload_op["requestBody"]["content"]) == ["multipart/form-data"]
    assert sorted(upload_op["responses"]) == ["202", "400", "401", "403", "413", "415", "429"]
    job_op = schema["paths"]["/api/v1/import-jobs/{id}/"]["get"]
    assert sorted(job_op["responses"]) == ["200", "401", "403", "404", "429"]
    job_schema = schema["components"]["schemas"]["ImportJob"]
    assert list(job_schema["properties"]) == ["id", "state", "total_rows", "processed_rows", "created", "errors"]
    assert list(schema["components"]["schemas"]["ImportError"]["properties"]) == [
        "row",
        "column",
        "order_no",
        "message",
    ]
