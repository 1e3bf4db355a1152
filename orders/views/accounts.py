"""Login with wrong-password throttling, and the office's home.

Failed logins are counted in the shared cache (Redis in production), per user name and per client
address, in fixed windows: after USERNAME_LIMIT failures for one user name, or ADDRESS_LIMIT failures
from one address, within WINDOW_SECONDS, further attempts are refused with 429 until the window ends
(even with the right password, so guessing gains nothing). A good login clears its user name's count.
If the cache is down, logins are not throttled rather than refused (the same choice as the API's
rate limits).
"""

import hashlib

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from ..sessions import SessionCacheUnavailable, unavailable
from . import counters

USERNAME_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60
PURPOSE = "login throttle"


def _keys(request, username):
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    return f"login-fail:user:{name}", f"login-fail:addr:{address}"


class ThrottledLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150]
        user_key, address_key = _keys(request, username)
        user_failures, address_failures = counters.read([user_key, address_key], purpose=PURPOSE)
        if user_failures >= USERNAME_LIMIT or address_failures >= ADDRESS_LIMIT:
            # An unbound form: checking the password now would tell a guesser whether it was right.
            form = self.get_form_class()(request, initial={"username": username})
            minutes = WINDOW_SECONDS // 60
            response = self.render_to_response(
                self.get_context_data(
                    form=form,
                    throttled=f"Too many failed logins. Wait {minutes} minutes, then try again.",
                )
            )
            response.status_code = 429
            response["Retry-After"] = str(WINDOW_SECONDS)
            return response
        form = self.get_form()
        if form.is_valid():
            counters.forget(user_key, purpose=PURPOSE)
            return self.form_valid(form)
        counters.bump([user_key, address_key], WINDOW_SECONDS, purpose=PURPOSE)
        response = self.form_invalid(form)
        response.status_code = 400
        return response

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except SessionCacheUnavailable:  # another user's session in this browser could not be ended
            return unavailable("Could not log in: the session store is not answering. Try again in a minute.")


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except SessionCacheUnavailable:
            return unavailable(
                "Could not log out: the session store is not answering, so you are still logged in. "
                "Try again in a minute."
            )


login = ThrottledLoginView.as_view()
logout = LogoutView.as_view(next_page="login")


@require_GET
def home(request):
    """`/`: the office's home is the order list; anyone else logs in first."""
    if request.user.is_authenticated:
        return redirect("orders:order_list")
    return redirect("login")
