"""The address rules every door shares."""

from decimal import Decimal

import pytest

from orders.addresses import INCOMPLETE, AddressError, clean_address


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"line1": "1 High St", "postal_code": "b24qa", "country": "gb"}, ("B2 4QA", "GB")),
        ({"line1": "1 High St", "postal_code": " sw1a  1aa ", "country": "GB"}, ("SW1A 1AA", "GB")),
        ({"line1": "1 Main St", "postal_code": "d02x285", "country": "IE"}, ("D02 X285", "IE")),
        ({"line1": "Dam 1", "postal_code": "1012jS", "country": "NL"}, ("1012 JS", "NL")),
        ({"line1": "1 Main St", "postal_code": "123456789", "country": "US"}, ("12345-6789", "US")),
        ({"line1": "Rua 1", "postal_code": "1000-001", "country": "PT"}, ("1000-001", "PT")),
    ],
    ids=["GB-compact", "GB-spaced", "IE", "NL", "US-zip4", "unchecked-country-kept"],
)
def test_postal_codes_are_normalised_for_their_country(given, expected):
    cleaned = clean_address(given)
    assert (cleaned["postal_code"], cleaned["country"]) == expected


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"line1": "1 High St", "postal_code": "B2 4QA", "country": "UK"}, "country", "'UK' is not an ISO 3166"),
        ({"line1": "1 High St", "postal_code": "12345", "country": "GB"}, "postal_code", "not a valid postal code"),
        ({"line1": "1 High St", "country": "GB"}, None, INCOMPLETE),
        ({"postal_code": "B2 4QA", "country": "GB"}, None, INCOMPLETE),
        ({"lat": Decimal("52.4")}, None, INCOMPLETE),
    ],
    ids=["unknown-country", "bad-gb-postcode", "no-postcode", "no-line1", "lat-without-lng"],
)
def test_a_bad_address_is_refused_naming_the_part_at_fault(given, field, message):
    with pytest.raises(AddressError) as caught:
        clean_address(given)
    assert caught.value.field == field
    assert message in caught.value.message


def test_a_position_alone_is_a_valid_address():
    assert clean_address({"lat": Decimal("52.4"), "lng": Decimal("-1.9")}) == {
        "lat": Decimal("52.4"),
        "lng": Decimal("-1.9"),
    }


def test_a_depot_address_may_be_partial_but_is_still_normalised():
    assert clean_address({"postal_code": "b11 2lq", "country": "gb"}, require_complete=False) == {
        "postal_code": "B11 2LQ",
        "country": "GB",
    }
