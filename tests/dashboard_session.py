"""Signing in to the dashboard over plain HTTP, as a browser would: fetch the sign-in page
(which sets the sign-in CSRF cookie), post the secret key with that token, keep the session
cookie. Used by the security tests; the browser tests sign in through Chromium instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests import loopback
from tests.harness import KassaServer

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None, "the page has no CSRF field"
    return found[1]


@contextmanager
def signed_in_client(server: KassaServer, secret_key: str) -> Iterator[httpx.Client]:
    with loopback.Client(base_url=server.url, timeout=30, follow_redirects=False) as client:
        login = client.get("/dashboard/login")
        assert login.status_code == 200
        response = client.post(
            "/dashboard/login",
            data={"csrf_token": csrf_token(login.text), "secret_key": secret_key},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/dashboard/"
        yield client


def session_csrf(client: httpx.Client) -> str:
    """The session's CSRF token, as every page's sign-out form carries it."""
    home = client.get("/dashboard/")
    assert home.status_code == 200
    return csrf_token(home.text)
