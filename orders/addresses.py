"""Address rules: ISO 3166 country codes and postal codes normalised per country."""

import re

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI
    FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO
    IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG
    MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK
    PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC
    TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)

# Countries whose postal code format is checked: (pattern on the compact form, formatter).
_GB = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})$")
_FORMATS = {
    "GB": (_GB, lambda c: f"{c[:-3]} {c[-3:]}"),
    "GG": (_GB, lambda c: f"{c[:-3]} {c[-3:]}"),
    "JE": (_GB, lambda c: f"{c[:-3]} {c[-3:]}"),
    "IM": (_GB, lambda c: f"{c[:-3]} {c[-3:]}"),
    "IE": (re.compile(r"^[AC-FHKNPRTV-Y][0-9]{2}[0-9AC-FHKNPRTV-Y]{4}$"), lambda c: f"{c[:3]} {c[3:]}"),
    "NL": (re.compile(r"^[1-9][0-9]{3}[A-Z]{2}$"), lambda c: f"{c[:4]} {c[4:]}"),
    "DE": (re.compile(r"^[0-9]{5}$"), str),
    "FR": (re.compile(r"^[0-9]{5}$"), str),
    "ES": (re.compile(r"^[0-9]{5}$"), str),
    "IT": (re.compile(r"^[0-9]{5}$"), str),
    "BE": (re.compile(r"^[1-9][0-9]{3}$"), str),
    "US": (re.compile(r"^[0-9]{5}([0-9]{4})?$"), lambda c: c if len(c) == 5 else f"{c[:5]}-{c[5:]}"),
}


class PostalCodeError(ValueError):
    pass


class AddressError(ValueError):
    """An address that breaks a rule; `field` names the part at fault (None: the address as a whole)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


INCOMPLETE = "An address needs line1, postal_code and country, or lat and lng."


def clean_address(values, *, require_complete=True):
    """The address with its country upper-cased and its postal code normalised for that country.

    Raises AddressError for an unknown country, a postal code the country cannot have, or (with
    `require_complete`) an address that has neither line1 + postal_code + country nor lat + lng.
    Every door (API, admin, office pages) checks addresses through here.
    """
    cleaned = dict(values)
    country = (cleaned.get("country") or "").upper()
    if country and country not in COUNTRIES:
        raise AddressError("country", f"{country!r} is not an ISO 3166 country code.")
    if "country" in cleaned:
        cleaned["country"] = country
    if cleaned.get("postal_code"):
        try:
            cleaned["postal_code"] = normalise_postal_code(cleaned["postal_code"], country)
        except PostalCodeError as exc:
            raise AddressError("postal_code", str(exc))
    if require_complete:
        has_lines = cleaned.get("line1") and cleaned.get("postal_code") and country
        has_position = cleaned.get("lat") is not None and cleaned.get("lng") is not None
        if not (has_lines or has_position):
            raise AddressError(None, INCOMPLETE)
    return cleaned


def spaced_postal_codes(value):
    """The ways the countries that space their postal codes would write `value` typed without its
    space ("b124aa" -> {"B12 4AA"}): what an office search for a postal code should also look for."""
    compact = "".join(value.upper().split())
    return {
        formatter(compact)
        for pattern, formatter in _FORMATS.values()
        if pattern.match(compact) and formatter(compact) != compact
    }


def normalise_postal_code(value, country):
    """Upper-case and space a postal code the way the country writes it; raise PostalCodeError if
    it cannot be one of that country's codes."""
    cleaned = " ".join(value.upper().split())
    fmt = _FORMATS.get(country)
    if fmt is None or not cleaned:
        return cleaned
    pattern, formatter = fmt
    compact = cleaned.replace(" ", "").replace("-", "")
    if not pattern.match(compact):
        raise PostalCodeError(f"{value!r} is not a valid postal code for {country}.")
    return formatter(compact)
