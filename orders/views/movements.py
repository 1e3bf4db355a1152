"""The stock movement board."""

from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from .access import office_required


@require_GET
@office_required
def movement_board(request):
    return render(request, "orders/movement_board.html", {"section": "movements"})


@require_POST
@office_required
def movement_action(request):
    return render(request, "orders/movement_board.html", {"section": "movements"})
