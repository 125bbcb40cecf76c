"""`GET /openapi.json`: the API's OpenAPI 3 description, generated from the resource
declarations; and schemathesis fuzzing a real `kassa serve` against it, bounded
(EXAMPLES_PER_OPERATION cases each): no 5xx, every response in the declared status codes,
content type and schema (objects, list envelopes, Stripe's error object)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from kassa.http import openapi
from kassa.services import routes
from tests import loopback
from tests.harness import KassaServer, create_account

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

DOCUMENT: dict[str, Any] = orjson.loads(openapi.document_bytes())
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KassaServer, str]]:
    folder = tmp_path_factory.mktemp("openapi")
    server = KassaServer(
        f"sqlite:///{folder / 'kassa.db'}",
        folder / "serve.log",
        {"KASSA_WEBHOOK_WORKERS": "0"},
    ).start()
    try:
        yield server, create_account(server.database_url).secret_key
    finally:
        server.stop()


def test_the_document_is_served_and_describes_every_route(
    fuzzed_server: tuple[KassaServer, str],
) -> None:
    server, _ = fuzzed_server
    served = loopback.get(f"{server.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == DOCUMENT
    described = {(m.upper(), p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    assert described == set(routes.templates())


def test_a_declared_operation_documents_its_parameters() -> None:
    create = DOCUMENT["paths"]["/v1/customers"]["post"]
    body = create["requestBody"]["content"]["application/x-www-form-urlencoded"]
    properties = body["schema"]["properties"]
    assert properties["email"]["anyOf"][0] == {
        "type": "string",
        "format": "email",
        "maxLength": 512,
    }
    assert body["encoding"]["metadata"] == {"style": "deepObject", "explode": True}
    listing = DOCUMENT["paths"]["/v1/customers"]["get"]["parameters"]
    assert {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    } in listing
    retrieve = DOCUMENT["paths"]["/v1/customers/{id}"]["get"]
    assert retrieve["parameters"][0] == {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert retrieve["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/customer"
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzzed_requests_get_no_5xx_and_conform(
    case: schemathesis.Case[Any], fuzzed_server: tuple[KassaServer, str]
) -> None:
    server, secret_key = fuzzed_server
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {secret_key}"},
        checks=CHECKS,
        timeout=30,
    )
