"""Declarative parameter schemas: each resource family declares what it accepts once, and
every violation becomes an `InvalidParameter` naming the parameter in Stripe's bracket form
(`address[city]`).

A decoded form holds strings, lists and dicts, and in an upload (`POST /v1/files`, multipart)
the file parts as `UploadedFile`; the schema turns them into typed values. An empty string
means "unset" where Stripe allows it, and is returned as `UNSET`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kassa.errors import (
    EmptyParameter,
    ExclusiveParameters,
    InvalidInteger,
    InvalidParameter,
    MissingParameter,
    UnknownParameter,
)

MAX_STRING_CHARS = 5_000
"""Stripe's default length limit for free-form strings."""
MAX_LIST_ITEMS = 250
MAX_LIST_INDEX = 999
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_CHARS = 40
METADATA_MAX_VALUE_CHARS = 500
INT64_MAX = 2**63 - 1
STARTING_AFTER = "starting_after"
ENDING_BEFORE = "ending_before"
"""A list's cursors: mutually exclusive wherever a list declares both (`parse_params`)."""
TIMESTAMP_MAX = 250_246_627_199
"""9899-12-31T23:59:59Z: the latest unix time a parameter takes (`Timestamp`), a test clock's
`frozen_time` included. A century short of the last second Python's calendar has (9999), so
that whatever Kassa works out from an accepted time (a period of up to three years on, a
two-year trial, a reminder weeks after a due date) is still a date it can render."""


class _Unset:
    """An explicit empty string: clear this field."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
Unset = _Unset
"""The type of UNSET, for typed requests: a field `str | Unset | None` is unset when None,
cleared when UNSET."""
MetadataUpdate = Mapping[str, "str | _Unset"] | _Unset
"""What a `metadata` parameter asks: keys to set, or to remove (UNSET); UNSET clears all."""


class UploadedFile:
    """A file part of a multipart/form-data request (`POST /v1/files`): the name the client
    gave it and its bytes. A plain class, not a dataclass: orjson writes dataclasses out on
    its own, bytes and all, and what of an upload reaches the idempotency fingerprint
    (`digest`) and the request log (`summary`) is the edge's choice, never its bytes."""

    __slots__ = ("_digest", "contents", "filename")

    def __init__(self, filename: str, contents: bytes) -> None:
        self.filename = filename
        self.contents = contents
        self._digest: str | None = None

    @property
    def size(self) -> int:
        return len(self.contents)

    def digest(self) -> str:
        """SHA-256 of the bytes, in hex; computed once (up to FILE_BYTES_MAX of hashing)."""
        if self._digest is None:
            self._digest = hashlib.sha256(self.contents).hexdigest()
        return self._digest

    def summary(self) -> dict[str, Any]:
        """What the request log keeps of the file."""
        return {"filename": self.filename, "size": self.size}


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return value[:80]
    if isinstance(value, UploadedFile):
        return "a file"
    return "an object" if isinstance(value, dict) else "a list"


class Param:
    """One parameter's type and limits."""

    nullable: bool = False

    def parse(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def parse_or_unset(self, value: Any, path: str) -> Any:
        if value == "" and self.nullable:
            return UNSET
        return self.parse(value, path)

    @staticmethod
    def refuse_empty(value: Any, path: str) -> None:
        """Stripe's answer to an empty string where a value that cannot be unset is needed
        (an integer, a boolean, one of an enum's values)."""
        if value == "":
            raise EmptyParameter(path)

    def json_schema(self) -> dict[str, Any]:
        """What the parameter accepts, as JSON Schema (for the OpenAPI description)."""
        return {}

    def schema(self) -> dict[str, Any]:
        """`json_schema()`, with the empty string a nullable parameter takes to clear it."""
        described = self.json_schema()
        if self.nullable:
            return {"anyOf": [described, {"type": "string", "enum": [""]}]}
        return described


_LIST_INDEX = re.compile(r"0|[1-9][0-9]*")


def list_items(value: Any, path: str) -> list[tuple[str, Any]]:
    """A list parameter as sent, with each item's path: `a[]=x&a[]=y` (a list), `a[0]=x&a[1]=y`
    (a hash of indices, which the official SDKs send, ordered by index), or `a=x` (one item)."""
    if isinstance(value, list):
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return [(f"{path}[0]", value)]
    if not all(_LIST_INDEX.fullmatch(index) for index in value):
        raise InvalidParameter(
            f"Invalid array: {path} must be a list (`{path}[0]=...`, `{path}[1]=...`)",
            param=path,
        )
    indices = sorted(value, key=int)
    if indices and int(indices[-1]) > MAX_LIST_INDEX:
        raise InvalidParameter(
            f"Invalid array: {path}[{indices[-1][:20]}]: list indices go up to {MAX_LIST_INDEX}",
            param=f"{path}[{indices[-1][:20]}]",
        )
    return [(f"{path}[{index}]", value[index]) for index in indices]


def _require_str(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid {what}: {_describe(value)}", param=path)
    return value


@dataclass(frozen=True)
class String(Param):
    max_chars: int = MAX_STRING_CHARS
    nullable: bool = False
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""

    def parse(self, value: Any, path: str) -> str:
        text = _require_str(value, path, "string")
        if len(text) > self.max_chars:
            raise InvalidParameter(
                f"Invalid string: {text[:40]}...; must be at most {self.max_chars} characters",
                param=path,
            )
        if self.pattern is not None and not self.pattern.fullmatch(text):
            self.refuse_empty(text, path)
            raise InvalidParameter(f"Invalid {path}: {text[:80]}{self.pattern_hint}", param=path)
        return text

    def json_schema(self) -> dict[str, Any]:
        described: dict[str, Any] = {"type": "string", "maxLength": self.max_chars}
        if self.pattern is not None:
            described["pattern"] = f"^(?:{self.pattern.pattern})$"
        return described


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Email(Param):
    nullable: bool = False
    max_chars: int = 512

    def parse(self, value: Any, path: str) -> str:
        text = _require_str(value, path, "string")
        if len(text) > self.max_chars or not _EMAIL.fullmatch(text):
            raise InvalidParameter(
                f"Invalid email address: {text[:80]}", param=path, code="email_invalid"
            )
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "email", "maxLength": self.max_chars}


_INTEGER = re.compile(r"-?[0-9]{1,30}")
"""ASCII digits only: Python's `int()` would also take `1_000`, ` 7 ` and `٣`."""


@dataclass(frozen=True)
class Integer(Param):
    minimum: int = -INT64_MAX
    maximum: int = INT64_MAX
    nullable: bool = False

    def parse(self, value: Any, path: str) -> int:
        self.refuse_empty(value, path)
        if not isinstance(value, str) or not _INTEGER.fullmatch(value):
            raise InvalidInteger(_describe(value), param=path)
        text = value
        number = int(text, 10)
        if not self.minimum <= number <= self.maximum:
            raise InvalidParameter(
                f"Invalid integer: {number}; must be between {self.minimum} and {self.maximum}",
                param=path,
            )
        return number

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Timestamp(Param):
    """A unix time Kassa may turn into a date: from `minimum` to `TIMESTAMP_MAX`."""

    minimum: int = 0
    nullable: bool = False

    def parse(self, value: Any, path: str) -> int:
        number = Integer().parse(value, path)
        if not self.minimum <= number <= TIMESTAMP_MAX:
            raise InvalidParameter(
                f"Invalid timestamp: {number}; {path} must be an integer Unix timestamp "
                f"between {self.minimum} and {TIMESTAMP_MAX} (9899-12-31T23:59:59Z).",
                param=path,
            )
        return number

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": TIMESTAMP_MAX}


@dataclass(frozen=True)
class Boolean(Param):
    def parse(self, value: Any, path: str) -> bool:
        self.refuse_empty(value, path)
        text = _require_str(value, path, "boolean")
        if text not in ("true", "false"):
            raise InvalidParameter(f"Invalid boolean: {text[:80]}", param=path)
        return text == "true"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Enum(Param):
    values: tuple[str, ...] = ()
    nullable: bool = False

    def parse(self, value: Any, path: str) -> str:
        self.refuse_empty(value, path)
        text = _require_str(value, path, "string")
        if text not in self.values:
            allowed = ", ".join(f"`{v}`" for v in self.values)
            raise InvalidParameter(f"Invalid {path}: must be one of {allowed}", param=path)
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True)
class ListOf(Param):
    item: Param = field(default_factory=String)
    max_items: int = MAX_LIST_ITEMS
    nullable: bool = False

    def parse(self, value: Any, path: str) -> list[Any]:
        items = list_items(value, path)
        if len(items) > self.max_items:
            raise InvalidParameter(
                f"Invalid array: {path} may have at most {self.max_items} items", param=path
            )
        return [self.item.parse(item, item_path) for item_path, item in items]

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(), "maxItems": self.max_items}


@dataclass(frozen=True)
class Struct(Param):
    fields: Mapping[str, Param] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    nullable: bool = False

    def parse(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidParameter(
                f"Invalid object: {path} must be an object (`{path}[key]=value`)", param=path
            )
        return parse_params(self.fields, value, required=self.required, prefix=path)

    def json_schema(self) -> dict[str, Any]:
        return object_schema(self.fields, self.required)


def file_too_large(path: str, max_bytes: int) -> InvalidParameter:
    """The error for a file over `max_bytes` (also raised by the edge, which stops reading an
    upload as soon as its file is too large)."""
    return InvalidParameter(
        f"Invalid {path}: the file is larger than {max_bytes} bytes, the most Kassa takes.",
        param=path,
    )


@dataclass(frozen=True)
class FileUpload(Param):
    """A file sent as a part of a multipart/form-data request, of 1 to `max_bytes` bytes."""

    max_bytes: int

    def parse(self, value: Any, path: str) -> UploadedFile:
        if not isinstance(value, UploadedFile):
            raise InvalidParameter(
                f"Invalid {path}: send the file as a part of a multipart/form-data request, "
                f"with a filename (curl: `-F {path}=@receipt.pdf`).",
                param=path,
            )
        if value.size == 0:
            raise InvalidParameter(f"Invalid {path}: the file is empty.", param=path)
        if value.size > self.max_bytes:
            raise file_too_large(path, self.max_bytes)
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "binary"}


CONNECT_ONLY: Final = "Kassa has no connected accounts."
"""The reason Kassa refuses Stripe Connect's parameters (`NotSupported`)."""


@dataclass(frozen=True)
class NotSupported(Param):
    """A parameter Stripe takes and Kassa refuses, with the reason in the 400: declared so
    that no parameter of Stripe's is answered as unknown
    (`tests/test_stripe_params_declared.py`)."""

    reason: str = ""

    def parse(self, value: Any, path: str) -> Any:
        raise InvalidParameter(f"Kassa does not support {path} yet: {self.reason}", param=path)


@dataclass(frozen=True)
class Metadata(Param):
    """Stripe's metadata: up to 50 string keys of 40 characters, values of 500."""

    nullable: bool = True

    def parse(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidParameter(
                "Invalid metadata: must be an object (`metadata[key]=value`)", param=path
            )
        if len(value) > METADATA_MAX_KEYS:
            raise InvalidParameter(
                f"Invalid metadata: at most {METADATA_MAX_KEYS} keys are allowed", param=path
            )
        parsed: dict[str, Any] = {}
        for key, item in value.items():
            item_path = f"{path}[{key}]"
            if len(key) > METADATA_MAX_KEY_CHARS:
                raise InvalidParameter(
                    f"Metadata keys can have at most {METADATA_MAX_KEY_CHARS} characters; "
                    f"'{key[:60]}' has {len(key)}",
                    param=item_path,
                )
            text = _require_str(item, item_path, "metadata value")
            if len(text) > METADATA_MAX_VALUE_CHARS:
                raise InvalidParameter(
                    f"Metadata values can have at most {METADATA_MAX_VALUE_CHARS} characters; "
                    f"the value of '{key}' has {len(text)}",
                    param=item_path,
                )
            parsed[key] = UNSET if text == "" else text
        return parsed

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "maxProperties": METADATA_MAX_KEYS,
            "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_CHARS},
        }


@dataclass(frozen=True)
class TimestampRange(Param):
    """A list filter such as `created`: an exact unix time, or `created[gte]=...` bounds."""

    def parse(self, value: Any, path: str) -> dict[str, int]:
        if isinstance(value, str):
            return {"eq": Integer(minimum=0).parse(value, path)}
        bounds = Struct(_RANGE_BOUNDS).parse(value, path)
        return bounds

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [Integer(minimum=0).json_schema(), object_schema(_RANGE_BOUNDS)]}


_RANGE_BOUNDS: Final = {op: Integer(minimum=0) for op in ("gt", "gte", "lt", "lte")}


def object_schema(fields: Mapping[str, Param], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """JSON Schema of a hash of parameters: only the declared keys are accepted."""
    described: dict[str, Any] = {
        "type": "object",
        "properties": {name: param.schema() for name, param in fields.items()},
        "additionalProperties": False,
    }
    if required:
        described["required"] = list(required)
    return described


def parse_params(
    schema: Mapping[str, Param],
    form: Mapping[str, Any],
    *,
    required: tuple[str, ...] = (),
    prefix: str = "",
) -> dict[str, Any]:
    """Validate `form` against `schema`; return only the keys that were sent."""
    parsed: dict[str, Any] = {}
    for key, value in form.items():
        path = f"{prefix}[{key}]" if prefix else key
        spec = schema.get(key)
        if spec is None:
            raise UnknownParameter(path)
        parsed[key] = spec.parse_or_unset(value, path)
    for key in required:
        if parsed.get(key, UNSET) in (UNSET, ""):  # Stripe treats "" as not sent here
            raise MissingParameter(f"{prefix}[{key}]" if prefix else key)
    if parsed.get(ENDING_BEFORE) and parsed.get(STARTING_AFTER):
        raise ExclusiveParameters(
            (STARTING_AFTER, ENDING_BEFORE),
            param=ENDING_BEFORE,
            message="Received both starting_after and ending_before parameters. "
            "Please pass in only one.",
        )
    return parsed


def apply_fields(obj: dict[str, Any], request: Any, names: Iterable[str]) -> None:
    """Stripe's update of plain fields: each of `names` that `request` (a typed request)
    carries replaces the object's value, and UNSET (sent empty) clears it to null."""
    for name in names:
        value = getattr(request, name)
        if value is not None:
            obj[name] = None if value is UNSET else value


def apply_metadata(current: Mapping[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata merge: `metadata=` clears all, `metadata[k]=` removes one key."""
    if update is UNSET:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is UNSET:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise InvalidParameter(
            f"Invalid metadata: at most {METADATA_MAX_KEYS} keys are allowed", param="metadata"
        )
    return merged
