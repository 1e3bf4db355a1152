"""Our signatures against the standardwebhooks reference implementation, both ways."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from webhooks import signing

NO_MATCH = "No signature matches."
TOO_FAR = "webhook-timestamp is too far from the current time."
REQUIRED = "The webhook-id, webhook-timestamp and webhook-signature headers are required."
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
        ({"body": BODY.replace(b"SO-1", b"SO-2")}, NO_MATCH),
        ({"msg_id": "msg_other"}, NO_MATCH),
        ({"secret": "whsec_" + base64.b64encode(b"x" * 32).decode()}, NO_MATCH),
        ({"timestamp": "1700000000"}, TOO_FAR),
        ({"timestamp": "soon"}, "webhook-timestamp must be whole seconds since the epoch."),
        ({"signature": ""}, REQUIRED),
        ({"msg_id": ""}, REQUIRED),
        ({"timestamp": ""}, REQUIRED),
        ({"signature": "v1,not-base64!!"}, NO_MATCH),
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
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(
            request["secret"], request["msg_id"], request["timestamp"], request["body"], request["signature"]
        )
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "secret, message",
    [
        ("whsec_%%%", "The secret is not whsec_ followed by base64."),
        ("whsec_" + base64.b64encode(b"k" * 32).decode()[:-4] + "!AAA", "The secret is not whsec_ followed by base64."),
        ("whsec_", "The secret is empty."),
    ],
)
def test_a_secret_that_is_not_base64_or_is_empty_is_refused(secret, message):
    with pytest.raises(signing.SignatureError) as caught:
        signing.sign(secret, "msg", 1, b"")
    assert str(caught.value) == message


# --- Cases found by mutation testing (docs/mutation.md) -----------------------------------------


def test_a_new_secret_has_as_many_random_bytes_as_asked():
    assert len(base64.b64decode(signing.new_secret(48)[6:])) == 48


@pytest.mark.parametrize("nbytes", [30, 31, 32, 33])
def test_a_secret_without_its_base64_padding_is_the_same_key(nbytes):
    key = bytes(range(nbytes))
    padded = "whsec_" + base64.b64encode(key).decode()
    assert signing.secret_key(padded) == key
    assert signing.secret_key(padded.rstrip("=")) == key


def test_a_text_body_is_signed_as_its_utf8_bytes():
    secret = signing.new_secret()
    assert signing.sign(secret, "msg_t", 1700000000, BODY.decode()) == signing.sign(secret, "msg_t", 1700000000, BODY)


def test_the_timestamp_may_be_as_far_as_the_tolerance_from_now_either_way_and_no_further():
    secret = signing.new_secret()
    sent = 1700000000
    header = signing.sign(secret, "msg_4", sent, BODY)
    for now in (sent - 300, sent + 300):
        assert signing.verify(secret, "msg_4", str(sent), BODY, header, now=now)
    for now in (sent - 301, sent + 301):
        with pytest.raises(signing.SignatureError) as caught:
            signing.verify(secret, "msg_4", str(sent), BODY, header, now=now)
        assert str(caught.value) == TOO_FAR
    assert signing.verify(secret, "msg_4", str(sent), BODY, header, now=sent + 60, tolerance=60)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("v2,{sig}", id="another-version"),
        pytest.param("v1,{sig}!!", id="junk-after-the-base64"),
        pytest.param("v1,{sig}\tv1,{sig}", id="tab-is-not-a-separator"),
        pytest.param("{sig}", id="no-version"),
    ],
)
def test_only_a_v1_signature_in_strict_base64_between_spaces_counts(header):
    secret = signing.new_secret()
    now = int(time.time())
    sig = signing.sign(secret, "msg_5", now, BODY).removeprefix("v1,")
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(secret, "msg_5", str(now), BODY, header.format(sig=sig))
    assert str(caught.value) == NO_MATCH


def test_a_malformed_signature_before_a_good_one_is_skipped():
    secret = signing.new_secret()
    now = int(time.time())
    header = "v1,%%% v1 " + signing.sign(secret, "msg_6", now, BODY)
    assert signing.verify(secret, "msg_6", str(now), BODY, header)
