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


# --- Cases found by mutation testing (docs/mutation.md) -----------------------------------------

from orders.addresses import normalise_postal_code, spaced_postal_codes  # noqa: E402


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("gir0aa", "GB", "GIR 0AA"),
        ("w1a 0ax", "GB", "W1A 0AX"),
        ("ec1a1bb", "GB", "EC1A 1BB"),
        ("gy11aa", "GG", "GY1 1AA"),
        ("je23ab", "JE", "JE2 3AB"),
        ("im11ad", "IM", "IM1 1AD"),
        ("a65f4e2", "IE", "A65 F4E2"),
        ("10115", "DE", "10115"),
        ("75001", "FR", "75001"),
        ("28001", "ES", "28001"),
        ("00118", "IT", "00118"),
        ("1000", "BE", "1000"),
        ("90210", "US", "90210"),
        ("90210 1234", "US", "90210-1234"),
        ("90210-1234", "US", "90210-1234"),
        (" 1000-001 ", "PT", "1000-001"),
        ("ab  12", "", "AB 12"),
        ("", "GB", ""),
    ],
)
def test_a_postal_code_is_written_the_way_its_country_writes_it(value, country, expected):
    assert normalise_postal_code(value, country) == expected


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("12345", "GB"),
        ("B2 4Q", "GB"),
        ("B2 4QAA", "GB"),
        ("1B2 4QA", "GB"),
        ("B2 4QAx", "GB"),
        ("B65F4E2", "IE"),
        ("0123AB", "NL"),
        ("1234A", "NL"),
        ("1234", "DE"),
        ("123456", "FR"),
        ("0123", "BE"),
        ("1234567", "US"),
        ("90210-12345", "US"),
    ],
)
def test_a_postal_code_its_country_cannot_have_is_refused_naming_both(value, country):
    with pytest.raises(AddressError) as caught:
        clean_address({"line1": "1 Main St", "postal_code": value, "country": country})
    assert caught.value.field == "postal_code"
    assert caught.value.message == str(caught.value) == f"{value!r} is not a valid postal code for {country}."


def test_an_unknown_country_is_refused_with_the_whole_message():
    with pytest.raises(AddressError) as caught:
        clean_address({"line1": "1 High St", "postal_code": "B2 4QA", "country": "uk"})
    assert (caught.value.field, caught.value.message) == ("country", "'UK' is not an ISO 3166 country code.")


@pytest.mark.parametrize(
    "given",
    [
        {"line1": "1 High St", "postal_code": "B2 4QA"},
        {"line1": "1 High St", "postal_code": "B2 4QA", "country": ""},
        {"line1": "", "postal_code": "B2 4QA", "country": "GB"},
        {"lng": Decimal("-1.9")},
        {"lat": None, "lng": Decimal("-1.9")},
        {},
    ],
)
def test_an_incomplete_address_is_refused_as_a_whole(given):
    with pytest.raises(AddressError) as caught:
        clean_address(given)
    assert (caught.value.field, caught.value.message) == (None, INCOMPLETE)


def test_a_position_on_the_equator_and_the_meridian_is_a_position():
    assert clean_address({"lat": Decimal("0"), "lng": Decimal("0")}) == {"lat": Decimal("0"), "lng": Decimal("0")}


def test_only_the_parts_given_are_returned_and_the_input_is_left_alone():
    given = {"line1": "1 High St", "postal_code": "b24qa", "country": "gb", "city": "Birmingham"}
    assert clean_address(given) == {
        "line1": "1 High St",
        "postal_code": "B2 4QA",
        "country": "GB",
        "city": "Birmingham",
    }
    assert given["postal_code"] == "b24qa"
    assert clean_address({"postal_code": "b24qa"}, require_complete=False) == {"postal_code": "B24QA"}
    assert clean_address({"country": None, "line1": "x"}, require_complete=False) == {"country": "", "line1": "x"}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("b124aa", {"B12 4AA"}),
        ("B12 4AA", {"B12 4AA"}),
        ("d02x285", {"D02 X285"}),
        ("1012js", {"1012 JS"}),
        ("123456789", {"12345-6789"}),
        ("12345", set()),
        ("SO-1", set()),
    ],
)
def test_an_office_search_for_a_postal_code_also_looks_for_it_spaced(typed, expected):
    assert spaced_postal_codes(typed) == expected
