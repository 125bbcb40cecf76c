"""Malformed input never produces a 500, on a live server and both engines: random and nasty
bodies, query strings and ids get a Stripe-shaped 4xx, the server logs no exception, and it
keeps answering normally afterwards.

The module runs its own `kassa serve` on a fresh database, so that its log holds only these
requests: an exception the server swallowed (a request log that cannot be written, say)
shows up there even when every response looked fine."""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Account, KassaServer, create_account, fresh_postgres_database

REQUEST_TIMEOUT_SECONDS = 30
LOG_FLUSH_WAIT_SECONDS = 0.6
"""Longer than the request log's flush interval, so a failing flush has been logged."""
ERROR_TYPES = {"invalid_request_error", "idempotency_error"}
FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_SAFE = "=&[]%;+/?:@,$!*'()~-._"
"""Left raw in query strings, so broken escapes (`%zz`) and brackets reach the server."""
QUERY_CHARS_MAX = 8_000
"""Longer request lines are refused by the HTTP server (h11) before Kassa sees them."""


class Payload(bytes):
    """A body whose repr stays short, for Hypothesis' reports of failing examples."""

    def __repr__(self) -> str:
        return f"Payload({bytes(self[:300])!r}, {len(self)} bytes)"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    server: KassaServer
    account: Account
    customer_id: str

    def send(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        content_type: str | None = FORM_TYPE,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request on a fresh connection, the target and body sent exactly as given."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=REQUEST_TIMEOUT_SECONDS
        )
        try:
            sent = {"authorization": f"Bearer {self.account.secret_key}", **(headers or {})}
            if content_type is not None:
                sent["content-type"] = content_type
            connection.request(method, target, body=body if method != "GET" else None, headers=sent)
            response = connection.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()


@contextmanager
def fresh_target(session_url: str, directory: Path) -> Iterator[Target]:
    """A server of our own on a fresh database of the session's engine, with one customer."""
    with ExitStack() as stack:
        if session_url.startswith("sqlite"):
            url = f"sqlite:///{directory / 'kassa.db'}"
        else:
            url = stack.enter_context(fresh_postgres_database())
        server = KassaServer(url, directory / "kassa-serve.log").start()
        stack.callback(server.stop)
        account = create_account(url)
        created = Target(server, account, "").send("POST", "/v1/customers", b"name=Target")
        assert created.status == 200, created.body
        yield Target(server, account, orjson.loads(created.body)["id"])


@pytest.fixture(scope="module")
def target(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with fresh_target(database_url, tmp_path_factory.mktemp("no-server-errors")) as served:
        yield served


def stripe_shaped_failure(reply: Reply) -> str | None:
    """None if `reply` keeps the contract; otherwise what is wrong with it."""
    if reply.status >= 500:
        return f"status {reply.status}: {reply.body[:300]!r}"
    if not reply.headers.get("request-id", "").startswith("req_"):
        return "no Request-Id header"
    if reply.status < 400:
        return None
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return f"status {reply.status} with a body that is not JSON: {reply.body[:300]!r}"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not an error object: {body!r}"[:400]
    error = body["error"]
    if not set(error) <= {"type", "message", "code", "doc_url", "param"}:
        return f"unexpected error keys: {sorted(error)}"
    if error.get("type") not in ERROR_TYPES or not isinstance(error.get("message"), str):
        return f"bad type or message: {error!r}"[:400]
    if reply.headers.get("content-type") != "application/json":
        return f"content-type {reply.headers.get('content-type')!r}"
    return None


def assert_log_clean(server: KassaServer) -> None:
    time.sleep(LOG_FLUSH_WAIT_SECONDS)
    text = server.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[max(0, text.index("Traceback") - 300) :][:3000]


def assert_still_serving(target: Target) -> None:
    created = target.send("POST", "/v1/customers", b"name=After&metadata[k]=v")
    assert created.status == 200, created.body
    customer = orjson.loads(created.body)
    assert (customer["name"], customer["metadata"]) == ("After", {"k": "v"})
    fetched = target.send("GET", f"/v1/customers/{customer['id']}")
    assert (fetched.status, orjson.loads(fetched.body)) == (200, customer)
    listed = target.send("GET", "/v1/customers?limit=1")
    assert listed.status == 200
    assert [c["id"] for c in orjson.loads(listed.body)["data"]] == [customer["id"]]


# --- random input ------------------------------------------------------------------------------

NAMES = [
    "metadata", "address", "shipping", "invoice_settings", "preferred_locales", "expand", "email",
    "name", "balance", "limit", "starting_after", "ending_before", "created", "tax", "tax_exempt",
    "phone", "description", "next_invoice_sequence", "invoice_prefix", "validate",
    "cash_balance", "test_clock", "payment_method", "source", "default_source",
    "custom_fields", "rendering_options", "amount_tax_display", "city", "gte", "lt", "data",
    "0", "1", "999", "1000", "01", "-1", "²", "٣", "",
]  # fmt: skip
VALUES = [
    "", "x", "true", "false", "0", "-1", "1.5", "1_0", "٣", "²", "99999999999999999999999",
    "9223372036854775808", "a@b.co", "not-an-email", "tax", "data.tax", "sources", "email",
    "a.b.c.d.e.f", "....", "cus_missing", "pm_missing", "US", "en", "null", "[]", "{}", "%",
    "x" * 6000,
]  # fmt: skip
NASTY_PAIRS = [
    "metadata=x", "address=x", "shipping=x", "invoice_settings=x", "preferred_locales[a]=b",
    "preferred_locales[0][a]=b", "expand[]=", "expand[]=....", "expand[a]=b", "expand[0][0]=x",
    "expand=data", "limit=abc", "limit[]=1", "limit=", "created=abc", "created[gte]=-1",
    "created[x]=1", "email[]=a", "metadata[a][b]=c", "metadata[]=x", "metadata[0]=x",
    "address[city][]=x", "shipping[address]=x", "invoice_settings[custom_fields]=x",
    "invoice_settings[custom_fields][0]=x", "invoice_settings[custom_fields][5][name]=a",
    "tax[ip_address][]=x", "balance=1e9", "a[", "[a]=1", "a]=1", "=", "&&&", "%", "%%",
    "%zz=1", "a=%", "%00=1", "a=%00", "%ff=1", "a=%C3", "²=1", "a[²]=1", "expand[٣]=tax",
    "starting_after[a]=b", "ending_before=%ff", "test_clock=clock_x", "a=1;b=2",
]  # fmt: skip

segments = st.one_of(st.sampled_from(NAMES), st.text(max_size=8))
keys = st.builds(
    lambda head, tail: head + "".join("[]" if s is None else f"[{s}]" for s in tail),
    st.one_of(st.sampled_from(NAMES[:-1]), st.text(min_size=1, max_size=8)),
    st.lists(st.one_of(st.none(), segments), max_size=8),
)
values = st.one_of(st.sampled_from(VALUES), st.text(max_size=40))
form_bodies = st.lists(st.tuples(keys, values), max_size=25).map(
    lambda pairs: urlencode(pairs, safe="[]").encode()
)
deep_bodies = st.builds(
    lambda head, depth: f"{head}{'[b]' * depth}=1".encode(),
    st.sampled_from(["a", "metadata", "address", "expand", "invoice_settings"]),
    st.integers(min_value=0, max_value=12),
)
many_field_bodies = st.builds(
    lambda template, count: "&".join(template.format(i) + "=v" for i in range(count)).encode(),
    st.sampled_from(["metadata[k{}]", "expand[]", "k{}", "preferred_locales[{}]", "name"]),
    st.sampled_from([51, 251, 1999, 2000, 2001, 4000]),
)
nasty_bodies = st.lists(st.sampled_from(NASTY_PAIRS), min_size=1, max_size=6).map(
    lambda pairs: "&".join(pairs).encode()
)
bodies = st.one_of(
    st.binary(max_size=400), form_bodies, deep_bodies, many_field_bodies, nasty_bodies
).map(Payload)
odd_ids = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=40,
)
endpoints = st.sampled_from(
    [
        ("POST", "/v1/customers"),
        ("POST", "/v1/customers/{id}"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/{id}"),
        ("GET", "/v1/customers/{odd}"),
        ("POST", "/v1/customers/{odd}"),
        ("DELETE", "/v1/customers/{odd}"),
        ("POST", "/v1/files"),
    ]
)
content_types = st.sampled_from(
    [FORM_TYPE] * 6
    + [
        f"{FORM_TYPE}; charset=utf-8",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ]
)
extra_headers = st.fixed_dictionaries(
    {},
    optional={
        "stripe-version": st.sampled_from(["2024-04-10", "2026-10-28.endive", "nope", "1"]),
        "idempotency-key": st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300
        ),
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    endpoint=endpoints,
    odd_id=odd_ids,
    body=bodies,
    content_type=content_types,
    headers=extra_headers,
)
def test_random_requests_get_stripe_shaped_answers(
    target: Target,
    endpoint: tuple[str, str],
    odd_id: str,
    body: Payload,
    content_type: str,
    headers: dict[str, str],
) -> None:
    method, template = endpoint
    path = template.format(id=target.customer_id, odd=quote(odd_id, safe=""))
    if method == "GET":
        query = quote_from_bytes(body, safe=QUERY_SAFE)[:QUERY_CHARS_MAX]
        reply = target.send(method, f"{path}?{query}" if query else path, headers=headers)
    else:
        reply = target.send(method, path, body, content_type or None, headers)
    problem = stripe_shaped_failure(reply)
    assert problem is None, f"{method} {path} {body[:200]!r}: {problem}"


def test_random_requests_left_no_trace(target: Target) -> None:
    """Runs after the property above (pytest keeps file order): no logged exception, and the
    server still works."""
    assert_log_clean(target.server)
    assert_still_serving(target)


# --- a fixed list of nasty cases ---------------------------------------------------------------

DEEP = "a" + "[b]" * 50
MULTIPART = "multipart/form-data; boundary=x"


def part(headers: bytes, body: bytes = b"v") -> bytes:
    return b"--x\r\n" + headers + b"\r\n\r\n" + body + b"\r\n"


DISPOSITION = b'Content-Disposition: form-data; name="purpose"'
UPLOADS: list[bytes] = [
    b"\xff\xfe\x00\x01",
    b"--x--\r\n",
    part(b"Content-Type: text/plain") + b"--x--\r\n",
    part(b'Content-Disposition: form-data; name="\xff\xfe"') + b"--x--\r\n",
    part(DISPOSITION, b"\xff\xfe") + b"--x--\r\n",
    part(DISPOSITION, b"dispute\x00evidence") + b"--x--\r\n",
    part(DISPOSITION + b"X-A: 1\r\n" * 20) + b"--x--\r\n",
    part(b"Content-Disposition: form-data; name=" + b"n" * 10_000) + b"--x--\r\n",
    part(DISPOSITION) * 500 + b"--x--\r\n",
    part(b'Content-Disposition: form-data; name="file[a]"; filename="../../x.pdf"', b"%PDF-")
    + part(b'Content-Disposition: form-data; name="file[a][b]"', b"x")
    + b"--x--\r\n",
    part(b'Content-Disposition: form-data; name="file"; filename="a.pdf"', b"%PDF-")
    + part(b'Content-Disposition: form-data; name="file"', b"x")
    + part(DISPOSITION, b"dispute_evidence")
    + b"--x--\r\n",
]
NASTY_REQUESTS: list[tuple[str, str, bytes, str | None]] = [
    *[("POST", "/v1/customers", pair.encode(), FORM_TYPE) for pair in NASTY_PAIRS],
    *[("GET", f"/v1/customers?{quote(pair, safe=QUERY_SAFE)}", b"", None) for pair in NASTY_PAIRS],
    ("POST", "/v1/customers/{id}", b"metadata=x&address=x", FORM_TYPE),
    ("POST", "/v1/customers/{id}", b"metadata[a][b]=c", FORM_TYPE),
    ("POST", "/v1/customers/{id}", b"default_source[]=x", FORM_TYPE),
    ("POST", "/v1/customers/{id}", b"invoice_settings[default_payment_method]=", FORM_TYPE),
    ("GET", "/v1/customers/{id}?expand[]=tax.location.x.y.z", b"", None),
    ("GET", "/v1/customers/{id}?expand[]=" + "a" * 400, b"", None),
    ("GET", "/v1/customers?expand[]=data." + ".".join(["x"] * 30), b"", None),
    ("POST", "/v1/customers", f"{DEEP}=1".encode(), FORM_TYPE),
    ("POST", "/v1/customers", b"k" * 100_000 + b"=v", FORM_TYPE),
    ("POST", "/v1/customers", b"name=" + b"x" * 900_000, FORM_TYPE),
    ("POST", "/v1/customers", b"&" * 50_000, FORM_TYPE),
    ("POST", "/v1/customers", b"a=1&" * 3000, FORM_TYPE),
    ("POST", "/v1/customers", "&".join(["expand[]=tax"] * 500).encode(), FORM_TYPE),
    ("POST", "/v1/customers", b'{"name": "json"}', "application/json"),
    ("POST", "/v1/customers", b"name=x", "text/plain"),
    ("POST", "/v1/customers", b"\xff\xfe\x00\x01", FORM_TYPE),
    ("POST", "/v1/customers", "name=Zoë&description=日本語&metadata[ключ]=✓".encode(), FORM_TYPE),
    ("POST", "/v1/customers", "name=😀&metadata[😀]=😀".encode(), FORM_TYPE),
    ("POST", "/v1/customers", b"name=%ed%a0%80", FORM_TYPE),
    ("POST", "/v1/customers", b"balance=-9223372036854775809", FORM_TYPE),
    ("GET", "/v1/customers?created=9223372036854775807", b"", None),
    ("GET", "/v1/customers?created[gt]=9223372036854775807&limit=100", b"", None),
    ("GET", "/v1/customers?email=" + "a" * 600, b"", None),
    ("GET", "/v1/customers?starting_after=" + "c" * 300, b"", None),
    ("GET", "/v1/customers/" + "c" * 900, b"", None),
    ("GET", "/v1/customers/" + "c" * 1200, b"", None),
    ("GET", "/v1/customers/%ff%fe", b"", None),
    ("GET", "/v1/customers/%ed%a0%80", b"", None),
    ("GET", "/v1/customers/cus_%F0%9F%98%80", b"", None),
    ("GET", "/v1/customers/..%2F..%2Fetc%2Fpasswd", b"", None),
    ("GET", "/v1/customers/'%20OR%201=1--", b"", None),
    ("POST", "/v1/customers/cus_x/y/z", b"", FORM_TYPE),
    ("GET", "/v1//customers", b"", None),
    ("GET", "/v1/customers/", b"", None),
    ("HEAD", "/v1/customers", b"", None),
    ("OPTIONS", "/v1/customers", b"", None),
    ("TRACE", "/v1/customers", b"", None),
    *[("POST", "/v1/files", body, MULTIPART) for body in UPLOADS],
    ("POST", "/v1/files", b"purpose=dispute_evidence", FORM_TYPE),
    ("POST", "/v1/files", b"--x\r\n", "multipart/form-data; boundary=" + "b" * 300),
    ("POST", "/v1/files", b"--x\r\n", "multipart/mixed; boundary=x"),
]


def test_nasty_requests_get_stripe_shaped_answers(target: Target) -> None:
    problems = []
    for method, template, body, content_type in NASTY_REQUESTS:
        path = template.format(id=target.customer_id)
        reply = target.send(method, path, body, content_type)
        if method == "HEAD":
            assert reply.status == 404 and reply.body == b""
            continue
        problem = stripe_shaped_failure(reply)
        if problem is not None:
            problems.append(f"{method} {path[:120]} {body[:80]!r}: {problem}")
    assert problems == []
    assert_log_clean(target.server)
    assert_still_serving(target)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"stripe-version": "x" * 5000}, 400),
        ({"idempotency-key": "k" * 256}, 400),
        ({"authorization": "Basic " + "A" * 10_000}, 401),
        ({"authorization": "Bearer sk_test_" + "x" * 5000}, 401),
        ({"authorization": "Basic " + base64.b64encode(b"\xff\xfe:").decode()}, 401),
    ],
)
def test_nasty_headers(target: Target, headers: dict[str, str], status: int) -> None:
    reply = target.send("POST", "/v1/customers", b"name=x", FORM_TYPE, headers)
    assert reply.status == status, reply.body
    assert stripe_shaped_failure(reply) is None


def test_nul_in_an_id_is_missing(database_url: str, tmp_path: Path) -> None:
    """`%00` in the path used to reach PostgreSQL, which refuses NUL in text: a 500. (A server
    of its own: see the next test for what such a path still does to the request log.)"""
    with fresh_target(database_url, tmp_path) as served:
        reply = served.send("GET", "/v1/customers/cus_%00")
        assert reply.status == 404, reply.body
        error = orjson.loads(reply.body)["error"]
        assert (error["code"], error["param"]) == ("resource_missing", "id")
        for method in ("POST", "DELETE"):
            assert served.send(method, "/v1/customers/cus_%00").status == 404
        cursor = served.send("GET", "/v1/customers?starting_after=cus_%00")
        assert cursor.status == 400  # the form decoder refuses NUL in any parameter
        assert stripe_shaped_failure(cursor) is None


def test_nul_in_a_path_leaves_the_server_clean(database_url: str, tmp_path: Path) -> None:
    with fresh_target(database_url, tmp_path) as served:
        assert served.send("GET", "/v1/customers/cus_%00").status == 404
        assert_log_clean(served.server)
        assert_still_serving(served)
