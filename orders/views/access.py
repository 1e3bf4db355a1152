"""Who may open the office pages: the two roles of the dashboard, checked on the server.

Administrators are users with `is_staff`; every other active user is office staff. Anonymous users
are sent to the login page (an htmx fragment request gets 401 with `HX-Redirect`, so the browser
goes to the login page instead of pasting it into a fragment); a member of the office staff asking
for an administrator's page gets 403.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import resolve_url


def _refuse_anonymous(request):
    if request.htmx:
        login = resolve_url(settings.LOGIN_URL)
        current = request.htmx.current_url_abs_path or "/"
        response = HttpResponse("Your session has ended; log in again.", status=401, content_type="text/plain")
        response["HX-Redirect"] = f"{login}?next={current}"
        return response
    return redirect_to_login(request.get_full_path())


def office_required(view):
    """Any active, logged-in user: office staff and administrators."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_active:
            return _refuse_anonymous(request)
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view):
    """Administrators only (`is_staff`)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_active:
            return _refuse_anonymous(request)
        if not request.user.is_staff:
            raise PermissionDenied("Only administrators may open the settings.")
        return view(request, *args, **kwargs)

    return wrapper
