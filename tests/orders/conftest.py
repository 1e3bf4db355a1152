"""Personas of the office pages: an office user (Olive) and an administrator (Adam), each with a logged-in client."""

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def office_user(db):
    return User.objects.create_user("olive", password="olive-pass-2468", email="olive@example.com")


@pytest.fixture
def admin_user(db):
    return User.objects.create_user("adam", password="adam-pass-1357", is_staff=True)


@pytest.fixture
def office(office_user):
    client = Client()
    client.force_login(office_user)
    return client


@pytest.fixture
def admin(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def htmx_headers():
    return {"HX-Request": "true", "HX-Current-URL": "http://testserver/orders/"}
