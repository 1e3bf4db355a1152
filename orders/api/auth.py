"""API keys, scopes and per-client rate limits (docs/api.md)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling

from ..models import ApiClient

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer sp_<key id>_<secret>`: the key id finds the client, the secret is checked
    against its stored SHA-256 digest in constant time."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be `Bearer <key>`.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        parts = ApiClient.split_key(key)
        client = None
        if parts:
            client = ApiClient.objects.filter(key_id=parts[0], active=True).first()
        if client is None or not client.check_secret(parts[1]):
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        now = timezone.now()
        # Record use at most every few minutes, so reads do not each cost a write.
        if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=5):
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return client, client

    def authenticate_header(self, request):
        return self.keyword


class HasScopes(permissions.BasePermission):
    """Reads need the view's `read_scope`, writes its `write_scope` (None: any valid key)."""

    message = "This API key does not have the scope this request needs."

    def has_permission(self, request, view):
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        if request.method in permissions.SAFE_METHODS:
            scope = getattr(view, "read_scope", None)
        else:
            scope = getattr(view, "write_scope", None)
        if scope and not client.has_scope(scope):
            self.message = f"This API key lacks the scope {scope}."
            return False
        return True


class ApiClientRateThrottle(throttling.SimpleRateThrottle):
    """API_RATE_LIMIT requests per client, counted in the shared cache (Redis in production).

    If the cache cannot be reached the request is let through and the outage logged: a rate limit
    is there to protect the service, not to turn a Redis outage into lost orders.
    """

    scope = "api_client"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache client error
            logger.warning("rate limit cache unavailable; request allowed", exc_info=True)
            return True

    def get_rate(self):
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


def sees_all(client):
    return client.has_scope(ApiClient.Scope.ORDERS_ALL)
