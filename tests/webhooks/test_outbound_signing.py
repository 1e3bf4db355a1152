"""Our signatures against the standardwebhooks reference implementation, both ways."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from webhooks import signing

BODY = b'{"type":"order.created","timestamp":"2026-01-01T00:00:00+00:00","data":{"order_no":"SO-1"}}'


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert secret != signing.new_secret()


def test_our_signature_is_the_reference_implementations():
    secret = signing.new_secret()
    now = int(time.time())
    ours = signing.sign(secret, "msg_1", now, BODY)
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert ours == theirs
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": ours}
    assert Webhook(secret).verify(BODY, headers)["data"] == {"order_no": "SO-1"}


def test_verify_accepts_a_reference_signature_and_any_of_several():
    old, new = signing.new_secret(), signing.new_secret()
    now = int(time.time())
    header = signing.signature_header([new, old], "msg_2", now, BODY)
    assert signing.verify([old], "msg_2", str(now), BODY, header)
    assert signing.verify(new, "msg_2", str(now), BODY, header)
    reference = Webhook(old).sign("msg_2", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert signing.verify(old, "msg_2", str(now), BODY, "v0,abc " + reference)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"body": BODY.replace(b"SO-1", b"SO-2")}, "No signature matches."),
        ({"msg_id": "msg_other"}, "No signature matches."),
        ({"secret": "whsec_" + base64.b64encode(b"x" * 32).decode()}, "No signature matches."),
        ({"timestamp": "1700000000"}, "too far from the current time"),
        ({"timestamp": "soon"}, "whole seconds"),
        ({"signature": ""}, "are required"),
        ({"signature": "v1,not-base64!!"}, "No signature matches."),
    ],
)
def test_verify_refuses_tampered_stale_and_forged_requests(change, message):
    secret = signing.new_secret()
    now = int(time.time())
    request = {
        "secret": secret,
        "msg_id": "msg_3",
        "timestamp": str(now),
        "body": BODY,
        "signature": signing.sign(secret, "msg_3", now, BODY),
    }
    request.update(change)
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(
            request["secret"], request["msg_id"], request["timestamp"], request["body"], request["signature"]
        )


def test_a_secret_that_is_not_base64_is_refused():
    with pytest.raises(signing.SignatureError):
        signing.sign("whsec_%%%", "msg", 1, b"")
