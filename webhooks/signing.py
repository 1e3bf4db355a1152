"""Standard Webhooks signatures (https://www.standardwebhooks.com/), as a pure module.

A secret is `whsec_` followed by the base64 of the key bytes. A signature is
`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`; a header may carry several,
separated by spaces (both the new and the old secret's during a rotation).
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class SignatureError(ValueError):
    """The request's signature headers are missing, malformed, stale or do not match."""


def new_secret(nbytes=32):
    """A fresh secret: `nbytes` random bytes (24 to 64, as Standard Webhooks libraries expect them)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key(secret):
    """The HMAC key bytes of a `whsec_` secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("The secret is not whsec_ followed by base64.")
    if not key:
        raise SignatureError("The secret is empty.")
    return key


def _digest(key, msg_id, timestamp, body):
    if isinstance(body, str):
        body = body.encode()
    return hmac.new(key, f"{msg_id}.{int(timestamp)}.".encode() + body, hashlib.sha256).digest()


def sign(secret, msg_id, timestamp, body):
    """The `webhook-signature` value for one secret: `v1,<base64>`."""
    return "v1," + base64.b64encode(_digest(secret_key(secret), msg_id, timestamp, body)).decode()


def signature_header(secrets_, msg_id, timestamp, body):
    """One `v1,...` per secret, space-separated (during a rotation: the new secret's first)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def verify(secrets_, msg_id, timestamp, body, signature, *, tolerance=DEFAULT_TOLERANCE_SECONDS, now=None):
    """Check a request against any of `secrets_`; raise SignatureError unless one signature matches.

    `timestamp` is the `webhook-timestamp` header as sent (text), `signature` the `webhook-signature`
    header. The timestamp must lie within `tolerance` seconds of `now` either way, so a captured request
    cannot be replayed later.
    """
    if isinstance(secrets_, str):
        secrets_ = [secrets_]
    if not msg_id or not timestamp or not signature:
        raise SignatureError("The webhook-id, webhook-timestamp and webhook-signature headers are required.")
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch.")
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        raise SignatureError("webhook-timestamp is too far from the current time.")
    offered = []
    for item in str(signature).split(" "):
        version, _, value = item.partition(",")
        if version != "v1" or not value:
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    for secret in secrets_:
        expected = _digest(secret_key(secret), msg_id, sent_at, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    raise SignatureError("No signature matches.")
