"""Routes generated from resource declarations: the shapes the billing wave needs
(collection actions, search, nested resources, test-helper resources) and the catalog's own."""

from __future__ import annotations

import pytest

from kassa.errors import RouteNotFound
from kassa.invariants import InvariantViolated
from kassa.services.context import Context
from kassa.services.resource import ApiObject, Form, Operation, Resource, RouteIds
from kassa.services.routes import ROUTES, RouteTable


def _ids(ids: RouteIds, form: Form) -> RouteIds:
    return ids


async def _echo(ctx: Context, ids: RouteIds) -> ApiObject:
    return {"ids": list(ids)}


def _op(writes: bool = False) -> Operation[RouteIds]:
    return Operation(_ids, _echo, writes=writes)


BALANCE_TRANSACTIONS = Resource(
    object_name="customer_balance_transaction",
    id_prefix="cbtxn",
    collection="balance_transactions",
    table=None,
    create=_op(True),
    retrieve=_op(),
    update=_op(True),
    lister=_op(),
)
CUSTOMERS = Resource(
    object_name="customer",
    id_prefix="cus",
    collection="customers",
    table=None,
    create=_op(True),
    retrieve=_op(),
    update=_op(True),
    delete=_op(True),
    lister=_op(),
    search=_op(),
    nested=(BALANCE_TRANSACTIONS,),
)
INVOICES = Resource(
    object_name="invoice",
    id_prefix="in",
    collection="invoices",
    table=None,
    create=_op(True),
    retrieve=_op(),
    actions={"finalize": _op(True), "pay": _op(True)},
    collection_actions={"create_preview": _op(True)},
    sublists={"lines": _op()},
)
TEST_CLOCKS = Resource(
    object_name="test_helpers.test_clock",
    id_prefix="clock",
    collection="test_helpers/test_clocks",
    table=None,
    create=_op(True),
    retrieve=_op(),
    delete=_op(True),
    lister=_op(),
    actions={"advance": _op(True)},
)
PAYMENT_INTENTS = Resource(
    object_name="payment_intent",
    id_prefix="pi",
    collection="payment_intents",
    table=None,
    retrieve=_op(),
    test_helpers={"authenticate": _op(True)},
)
TABLE = RouteTable((CUSTOMERS, INVOICES, TEST_CLOCKS, PAYMENT_INTENTS))


@pytest.mark.parametrize(
    ("method", "path", "template", "ids"),
    [
        ("POST", "/v1/customers", "/v1/customers", ()),
        ("GET", "/v1/customers", "/v1/customers", ()),
        ("GET", "/v1/customers/search", "/v1/customers/search", ()),
        ("GET", "/v1/customers/cus_1", "/v1/customers/{id}", ("cus_1",)),
        ("POST", "/v1/customers/cus_1", "/v1/customers/{id}", ("cus_1",)),
        ("DELETE", "/v1/customers/cus_1", "/v1/customers/{id}", ("cus_1",)),
        # A literal segment wins, but a longer path it cannot finish falls back to the id
        # (a path ending at the literal answers by the literal route's methods only).
        (
            "GET",
            "/v1/customers/search/balance_transactions",
            "/v1/customers/{id}/balance_transactions",
            ("search",),
        ),
        (
            "GET",
            "/v1/customers/cus_1/balance_transactions",
            "/v1/customers/{id}/balance_transactions",
            ("cus_1",),
        ),
        (
            "POST",
            "/v1/customers/cus_1/balance_transactions",
            "/v1/customers/{id}/balance_transactions",
            ("cus_1",),
        ),
        (
            "GET",
            "/v1/customers/cus_1/balance_transactions/cbtxn_2",
            "/v1/customers/{id}/balance_transactions/{child_id}",
            ("cus_1", "cbtxn_2"),
        ),
        (
            "POST",
            "/v1/customers/cus_1/balance_transactions/cbtxn_2",
            "/v1/customers/{id}/balance_transactions/{child_id}",
            ("cus_1", "cbtxn_2"),
        ),
        ("POST", "/v1/invoices/create_preview", "/v1/invoices/create_preview", ()),
        ("POST", "/v1/invoices/in_1/finalize", "/v1/invoices/{id}/finalize", ("in_1",)),
        ("GET", "/v1/invoices/in_1/lines", "/v1/invoices/{id}/lines", ("in_1",)),
        ("GET", "/v1/test_helpers/test_clocks", "/v1/test_helpers/test_clocks", ()),
        (
            "POST",
            "/v1/test_helpers/test_clocks/clock_1/advance",
            "/v1/test_helpers/test_clocks/{id}/advance",
            ("clock_1",),
        ),
        (
            "POST",
            "/v1/test_helpers/payment_intents/pi_1/authenticate",
            "/v1/test_helpers/payment_intents/{id}/authenticate",
            ("pi_1",),
        ),
    ],
)
def test_declared_routes_resolve(
    method: str, path: str, template: str, ids: tuple[str, ...]
) -> None:
    route = TABLE.resolve(method, path)
    assert (route.template, route.ids) == (template, ids)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/invoices/create_preview/extra"),
        ("POST", "/v1/customers/search"),
        ("DELETE", "/v1/charges/search"),
        ("PUT", "/v1/customers"),
        ("DELETE", "/v1/invoices/in_1"),
        ("GET", "/v1/customers//balance_transactions"),
        ("GET", "/v1/customers/cus_1/balance_transactions/cbtxn_2/more"),
        ("POST", "/v1/test_helpers/invoices/in_1/pay"),
        ("GET", "/v1/nothing"),
        ("GET", "/v1" + "/x" * 20),
    ],
)
def test_undeclared_routes_are_not_found(method: str, path: str) -> None:
    with pytest.raises(RouteNotFound):
        TABLE.resolve(method, path)


def test_a_route_declared_twice_is_refused() -> None:
    """Two declarations claiming one path and method (here two resources with one
    collection) would leave one of them unreachable: the table refuses to build."""
    with pytest.raises(
        InvariantViolated, match=r"^(GET|POST|DELETE) /v1/customers\S* is declared twice$"
    ):
        RouteTable((CUSTOMERS, CUSTOMERS))


def test_the_catalog_serves_every_route_it_served_before() -> None:
    served = set(ROUTES.templates())
    for expected in [
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/{id}"),
        ("DELETE", "/v1/customers/{id}"),
        ("POST", "/v1/payment_intents/{id}/confirm"),
        ("POST", "/v1/test_helpers/payment_intents/{id}/authenticate"),
        ("GET", "/v1/balance"),
        ("GET", "/v1/balance_transactions/{id}"),
        ("GET", "/v1/events/{id}/webhook_attempts"),
        ("POST", "/v1/events/{id}/resend"),
        ("POST", "/v1/refunds/{id}/cancel"),
    ]:
        assert expected in served
