"""Every parameter Stripe takes on an operation Kassa serves is declared by Kassa: implemented,
or refused with its reason (`kassa.params.NotSupported`), never answered as an unknown
parameter, which tells an integration that sent a real Stripe parameter that it made a
typo. Stripe's parameters are those the installed `stripe` package declares for each of its
service methods (its `params` TypedDicts), matched to Kassa's routes by method and path.

The package's minor releases add parameters: the comparison is made against the release
recorded here (`RECORDED_SDK_VERSION`, the one pyproject.toml pins for the tests); another
installed by hand is a skip saying what to do, and a failure under CI, where the pin holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import stripe
import stripe.params

from kassa.services import routes
from kassa.services.resource import ParamsParser
from kassa.store import Store
from kassa.store.queries import ObjectListQuery
from kassa.store.tables import CHARGES, PAYMENT_METHODS, TOKENS, ObjectTable
from tests.direct_store import with_store
from tests.harness import Account, KassaServer

RECORDED_SDK_VERSION: Final = "16.1.0"
"""The `stripe` release whose parameters were last declared; update it after declaring a
newer release's (this test lists what is missing)."""
REQUEST_OPTIONS: Final = frozenset(stripe.RequestOptions.__annotations__)
"""Keys of the SDK's per-request options, which its params TypedDicts inherit: not sent as
parameters."""
NOT_YET_DECLARED: Final[dict[tuple[str, str], frozenset[str]]] = {}
"""Parameters known to be missing, by (method, route): none."""
_METHOD = re.compile(
    r"    def (?P<name>\w+)\(\s*self,(?P<signature>.*?)\)\s*->.*?:(?P<body>.*?)(?=\n    def |\Z)",
    re.S,
)
_PARAMS_TYPE = re.compile(r'params: "?(?:Optional\[)?"?(\w+Params)\b')
_REQUEST = re.compile(r'_request\(\s*"(\w+)",\s*"(/v1/[^"]*)"')
_PATH_ID = re.compile(r"\{[^}]*\}")
X: Final = {"iban": "DE89370400440532013000"}
CHARGE: Final = {"amount": 1000, "currency": "usd", "source": "tok_visa"}


def _sdk_operations() -> Iterator[tuple[tuple[str, str], frozenset[str]]]:
    """(method, path with `{}` for each id) and the parameters the SDK declares for it."""
    services = Path(stripe.__file__).parent.rglob("_*_service.py")
    for source in (path.read_text() for path in sorted(services)):
        for method in _METHOD.finditer(source):
            if method["name"].endswith("_async"):
                continue
            params_type = _PARAMS_TYPE.search(method["signature"])
            request = _REQUEST.search(method["body"])
            declared = params_type and getattr(stripe.params, params_type[1], None)
            if request is None or declared is None:
                continue
            names = frozenset(declared.__annotations__) - REQUEST_OPTIONS - {"expand"}
            yield (request[1].upper(), _PATH_ID.sub("{}", request[2])), names


def _missing() -> dict[tuple[str, str], frozenset[str]]:
    stripes = dict(_sdk_operations())
    missing = {}
    for route in routes.declared():
        key = (route.method, _PATH_ID.sub("{}", route.template))
        parser = route.operation.parse
        if key not in stripes or not isinstance(parser, ParamsParser):
            continue
        absent = stripes[key] - set(parser.params) - NOT_YET_DECLARED.get(key, frozenset())
        if absent:
            missing[(route.method, route.template)] = absent
    return missing


def test_the_sdk_operations_are_found() -> None:
    """The comparison below matches routes by what it reads of the SDK's source: a release
    that changed its layout would make it compare nothing and pass."""
    found = dict(_sdk_operations())
    assert len(found) > 300
    assert ("POST", "/v1/subscriptions/{}") in found
    assert "proration_behavior" in found[("POST", "/v1/subscriptions/{}")]


def test_every_stripe_parameter_is_declared() -> None:
    if stripe.VERSION != RECORDED_SDK_VERSION:
        why = (
            f"stripe {stripe.VERSION} is installed, the parameters were declared for "
            f"{RECORDED_SDK_VERSION} (pyproject.toml pins it): run this test with it installed, "
            "or declare what it lists (implemented or kassa.params.NotSupported) and update "
            "RECORDED_SDK_VERSION with the pin"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    missing = _missing()
    assert not missing, "Stripe parameters Kassa answers as unknown:\n" + "\n".join(
        f"  {method} {template}: {', '.join(sorted(names))}"
        for (method, template), names in sorted(missing.items())
    )


def _stored(database_url: str, account_id: str, table: ObjectTable) -> int:
    """How many of the account's objects `table` holds, read through Kassa's store: what a
    refused request would have left behind whether or not it announced anything."""

    async def count(store: Store) -> int:
        async with store.read() as tx:
            return await tx.count_objects(table, account_id, ObjectListQuery(limit=100))

    return with_store(database_url, count)


@pytest.mark.parametrize(
    ("create", "param", "table"),
    [
        (
            lambda c: c.v1.payment_methods.create(params={"type": "card", "sepa_debit": X}),
            "sepa_debit",
            PAYMENT_METHODS,
        ),
        (
            lambda c: c.v1.charges.create(params={**CHARGE, "application_fee_amount": 1}),
            "application_fee_amount",
            CHARGES,
        ),
        (lambda c: c.v1.tokens.create(params={"pii": {"id_number": "000"}}), "pii", TOKENS),
    ],
)
def test_a_declared_parameter_is_refused_with_its_reason_and_nothing_kept(
    server: KassaServer,
    account: Account,
    client: stripe.StripeClient,
    create: Any,
    param: str,
    table: ObjectTable,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        create(client)
    assert refused.value.param == param
    assert "Kassa does not support" in str(refused.value.user_message)
    # Nothing kept: no row in the table the object would have been stored in (a PaymentMethod
    # and a token announce no event on create, so an empty event list alone would prove
    # nothing for them), and no event announced.
    assert _stored(server.database_url, account.id, table) == 0
    assert client.v1.events.list().data == []
