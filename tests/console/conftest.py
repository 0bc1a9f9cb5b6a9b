"""Fixtures the admin console's tests share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.console import PASSWORD


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher is deliberately slow; these tests log in often.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
