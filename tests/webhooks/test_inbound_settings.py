"""POD_DISTANCE_WARNING_M is read from the environment and refused loudly when it is not a distance."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PRINT = "import django; django.setup(); from django.conf import settings; print(settings.POD_DISTANCE_WARNING_M)"


def read_setting(**env):
    base = {k: v for k, v in os.environ.items() if k != "POD_DISTANCE_WARNING_M"}
    base.update({"DJANGO_SETTINGS_MODULE": "stream_portal.settings", "SECRET_KEY": "x" * 50, **env})
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("value", "expected"), [(None, "500"), ("", "500"), ("250", "250"), ("0", "0")])
def test_the_pod_distance_threshold_is_read_from_the_environment(value, expected):
    result = read_setting(**({} if value is None else {"POD_DISTANCE_WARNING_M": value}))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("half a mile", "POD_DISTANCE_WARNING_M must be a whole number, not 'half a mile'"),
        ("-5", "POD_DISTANCE_WARNING_M must be at least 0"),
    ],
)
def test_a_bad_pod_distance_threshold_stops_start_up(value, message):
    result = read_setting(POD_DISTANCE_WARNING_M=value)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr
