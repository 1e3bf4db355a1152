"""Order imports over the API: post a file in the Stream upload layout, then follow its job.

`POST /api/v1/orders/import/` checks the file as a whole and answers 202 with a queued job;
`GET /api/v1/import-jobs/{id}/` answers its progress, the orders created and the errors by file line.
The rows are read by the background job (orders/imports.py), never in the request.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import imports
from ..domain import Actor
from ..models import ApiClient, ImportJob
from .auth import sees_all


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, help_text="The file's line number (the header is line 1); null for the file as a whole."
    )
    column = serializers.CharField(allow_null=True, help_text="The column at fault, e.g. Item_Qty; null for none.")
    order_no = serializers.CharField(allow_null=True, help_text="The row's Order_No, when it has one.")
    message = serializers.CharField(help_text="What is wrong, in words.")


class ImportJobSerializer(serializers.Serializer):
    """An import job: its state, progress, the orders it created and the rows it refused."""

    id = serializers.IntegerField(help_text="The job's id.")
    state = serializers.ChoiceField(choices=ImportJob.State.choices, help_text="queued, running, done or failed.")
    total_rows = serializers.IntegerField(help_text="Rows of orders in the file (the header and blank lines aside).")
    processed_rows = serializers.IntegerField(help_text="Rows read so far.")
    created = serializers.ListField(child=serializers.CharField(), help_text="Order numbers created, in file order.")
    errors = ImportErrorSerializer(
        many=True, help_text="Errors by file line; an order with any bad row is not created."
    )


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="The CSV file in the Stream order upload layout, UTF-8 (see docs/import.md)."
    )


def scoped_jobs(request):
    jobs = ImportJob.objects.all()
    return jobs if sees_all(request.auth) else jobs.filter(started_by_client=request.auth)


class OrderImportView(APIView):
    parser_classes = [MultiPartParser]
    read_scope, write_scope = ApiClient.Scope.ORDERS_READ, ApiClient.Scope.ORDERS_WRITE

    @extend_schema(
        operation_id="orders_import",
        summary="Import orders from a CSV file",
        description="Multipart upload, field `file`, in the Stream order upload layout: one row per item, rows "
        "sharing Order_No make one order. The file is checked as a whole (encoding, columns) at once; its rows "
        "are read by a background job. Follow the job at the URL in `Location`.",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: ImportJobSerializer},
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["Attach the CSV file in the multipart field `file`."]})
        try:
            job = imports.start_import(upload, actor=Actor.for_client(request.auth))
        except imports.ImportFileError as exc:
            if exc.status == status.HTTP_400_BAD_REQUEST:
                raise ValidationError({"file": [exc.message]})
            return Response({"detail": exc.message}, status=exc.status)
        return Response(
            imports.job_representation(job),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/import-jobs/{job.pk}/"},
        )


class ImportJobView(APIView):
    read_scope = ApiClient.Scope.ORDERS_READ

    @extend_schema(
        operation_id="import_jobs_retrieve",
        summary="Follow an import job",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The job's id.")],
        responses={200: ImportJobSerializer},
    )
    def get(self, request, id):
        job = scoped_jobs(request).filter(pk=id).first()
        if job is None:
            raise NotFound("No such import job.")
        return Response(imports.job_representation(job))
