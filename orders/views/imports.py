"""Office pages for moving orders in and out as CSV: the imports page and the list's export.

`/imports/` takes a file in the Stream upload layout (docs/import.md) and sends the office to the
job's page, whose progress panel polls itself with htmx until the job has finished, then shows the
orders created and the row-by-row error report. `/orders/export.csv` streams the list's orders with
the list's own filters.
"""

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from .. import exports, imports
from ..domain import Actor
from ..models import ImportJob
from .access import office_required

SAMPLE = settings.BASE_DIR / "docs" / "sample-import.csv"
RECENT_JOBS = 10
CREATED_SHOWN = 50  # order links listed on the job page; the rest are counted


def _recent_jobs():
    return ImportJob.objects.select_related("started_by_user", "started_by_client").defer(
        "file_gzip", "created", "errors"
    )[:RECENT_JOBS]


@require_http_methods(["GET", "POST"])
@office_required
def import_page(request):
    error = None
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error, status = "Choose a CSV file to import.", 400
        else:
            try:
                job = imports.start_import(upload, actor=Actor.for_user(request.user))
            except imports.ImportFileError as exc:
                error, status = exc.message, exc.status
            else:
                return redirect("orders:import_job", job_id=job.pk)
    context = {
        "section": "imports",
        "error": error,
        "jobs": _recent_jobs(),
        "max_mb": settings.IMPORT_MAX_BYTES // (1024 * 1024),
    }
    return render(request, "orders/imports.html", context, status=status)


@require_GET
@office_required
def import_job(request, job_id):
    job = get_object_or_404(ImportJob.objects.defer("file_gzip"), pk=job_id)
    context = {
        "section": "imports",
        "job": job,
        "percent": int(job.processed_rows * 100 / job.total_rows) if job.total_rows else 0,
        "created_shown": job.created[:CREATED_SHOWN],
        "created_more": max(len(job.created) - CREATED_SHOWN, 0),
        "max_mb": settings.IMPORT_MAX_BYTES // (1024 * 1024),
    }
    template = "orders/imports.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#progress"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    patch_cache_control(response, no_store=True)
    return response


@require_GET
@office_required
def import_sample(request):
    if not SAMPLE.exists():
        raise Http404("The sample file is missing.")
    return FileResponse(SAMPLE.open("rb"), as_attachment=True, filename="sample-import.csv", content_type="text/csv")


@require_GET
@office_required
def export_orders(request):
    queryset, errors = exports.filtered_orders(request.GET)
    if errors:
        text = "The filters are not valid:\n" + "\n".join(f"{name}: {' '.join(m)}" for name, m in errors.items())
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(exports.csv_lines(queryset), content_type="text/csv; charset=utf-8")
    filename = f"orders-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    patch_cache_control(response, no_store=True)
    return response
