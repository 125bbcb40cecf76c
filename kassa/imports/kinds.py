"""What each kind of import file creates.

A row is the create call of the API: its columns are the create parameters in bracket form
(`email`, `address[line1]`, `metadata[plan]`, `recurring[interval]`), parsed by the
resource's own request parser and run by its own create operation.

Every row carries a key, so that importing the same file again creates nothing twice: the
`external_id` column (any text of up to EXTERNAL_ID_CHARS_MAX characters, unique per kind
and account), or for products, whose id Stripe lets the caller choose, the `id` column when
there is no `external_id`. The key is stored with the id of the object it made
(`imported_objects`).

A row may name an object of an earlier import by that import's key instead of its id: a
price's product (`product_external_id`), an invoice item's customer (`customer_external_id`)
and price (`price_external_id`, which becomes `pricing[price]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kassa.imports import KIND_NAMES
from kassa.invariants import InvariantViolated, ensure
from kassa.params import Param
from kassa.services import customers
from kassa.services.billing import invoice_items, prices, products
from kassa.services.resource import Operation, ParamsParser, Resource

EXTERNAL_ID = "external_id"
EXTERNAL_ID_CHARS_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A column naming an object of an earlier import by its key: `column` holds the key of
    an object imported as `kind`, whose id the row sends as the parameter at `param`."""

    column: str
    kind: str
    param: tuple[str, ...]

    @property
    def param_name(self) -> str:
        """The parameter in bracket form: `pricing[price]`."""
        head, *rest = self.param
        return head + "".join(f"[{part}]" for part in rest)


@dataclass(frozen=True)
class ImportKind:
    name: str
    """The kind as the command names it, and as keys are stored: `customers`."""
    resource: Resource
    id_is_key: bool = False
    """Whether the `id` column keys a row when there is no `external_id` (products)."""
    references: tuple[Reference, ...] = ()

    @property
    def create(self) -> Operation[Any]:
        operation = self.resource.create
        if operation is None:
            raise InvariantViolated(f"{self.name} have no create operation to import through")
        return operation

    @property
    def params(self) -> Mapping[str, Param]:
        """The create parameters: what a column may name (at its top level)."""
        parser = self.create.parse
        ensure(isinstance(parser, ParamsParser), f"the {self.name} parser declares its params")
        return parser.params if isinstance(parser, ParamsParser) else {}

    @property
    def object_name(self) -> str:
        return self.resource.object_name


KINDS: Mapping[str, ImportKind] = {
    kind.name: kind
    for kind in (
        ImportKind("customers", customers.RESOURCE),
        ImportKind("products", products.RESOURCE, id_is_key=True),
        ImportKind(
            "prices",
            prices.RESOURCE,
            references=(Reference("product_external_id", "products", ("product",)),),
        ),
        ImportKind(
            "invoiceitems",
            invoice_items.RESOURCE,
            references=(
                Reference("customer_external_id", "customers", ("customer",)),
                Reference("price_external_id", "prices", ("pricing", "price")),
            ),
        ),
    )
}
ensure(tuple(KINDS) == KIND_NAMES, "every kind the command names is declared, in order")
