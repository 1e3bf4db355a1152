"""The public tracking page (docs/tracking in README): no login, found by its random token only."""

from django.http import Http404


def tracking_page(request, token):
    raise Http404("No such tracking page.")
