"""The tests' HTTP clients (httpx), all sharing one TLS context.

httpx builds a TLS context for every client it makes, `httpx.get` and `httpx.post`
included, by loading the CA bundle: about 30 ms of CPU each time, whatever the URL's scheme.
The tests talk plain HTTP to servers on loopback thousands of times, and that load was a
quarter of a test process's CPU. These wrappers take the same arguments as httpx's and pass
one context made once (`tests/test_harness.py` checks no test builds a client without it).
"""

from __future__ import annotations

import ssl
from typing import Any, Final

import httpx

TLS: Final = ssl.create_default_context()


def Client(**options: Any) -> httpx.Client:  # noqa: N802 - stands in for httpx.Client
    return httpx.Client(verify=TLS, **options)


def AsyncClient(**options: Any) -> httpx.AsyncClient:  # noqa: N802 - as httpx.AsyncClient
    return httpx.AsyncClient(verify=TLS, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, verify=TLS, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, verify=TLS, **options)
