"""The OpenAPI 3 description of the API Kassa serves (`GET /openapi.json`), generated at the
edge from the route table and so from the resource declarations: every path and method, its
path ids, its parameters where the operation's parser declares them (`ParamsParser`: a GET's
as query parameters, a POST's as a form-encoded body with Stripe's bracket style, an
upload's as a multipart/form-data body), its
response (the object named by the resource, a list envelope, or a search result), and
Stripe's error object for every error status.

Objects are described by what every one of them has (`id`, `object`) and left open beyond
that: their fields are Stripe's (see `../shared/stripe-openapi/`), not redeclared here. An
operation whose parser is a plain function documents no parameters and accepts any.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import orjson

from kassa import API_VERSION, __version__
from kassa.http.expand import MAX_EXPAND_PATH_CHARS, MAX_EXPAND_PATHS
from kassa.params import ListOf, Metadata, Param, String, Struct, TimestampRange, object_schema
from kassa.services import file_types, files, routes
from kassa.services.resource import ParamsParser
from kassa.services.routes import DeclaredRoute

ERROR_STATUSES: Final = ("400", "401", "402", "404", "409", "429", "503")
ERROR_TYPES: Final = (
    "api_error",
    "card_error",
    "idempotency_error",
    "invalid_request_error",
)
EXPAND: Final = ListOf(String(max_chars=MAX_EXPAND_PATH_CHARS), max_items=MAX_EXPAND_PATHS)
"""Every operation takes `expand[]` (the API edge handles it before the parser)."""
_PATH_ID = re.compile(r"\{(\w+)\}")


@functools.cache
def document_bytes() -> bytes:
    """The description as served: built once per process."""
    return orjson.dumps(document(routes.declared()))


def document(declared: list[DeclaredRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    object_names: set[str] = set()
    for route in declared:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route)
        object_names.add(route.resource.object_name)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Kassa",
            "version": __version__,
            "description": f"The Stripe API as Kassa serves it (Stripe API {API_VERSION}).",
        },
        "servers": [{"url": "/"}],
        "security": [{"secret_key": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "secret_key": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "error": _ERROR_SCHEMA,
                **{name: _object_schema(name) for name in sorted(object_names)},
            },
        },
    }


def _operation(route: DeclaredRoute) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": _operation_id(route),
        "tags": [route.resource.object_name],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_ID.findall(route.template)
        ],
        "responses": {
            "200": {
                "description": "Success",
                "content": _response_content(route),
            },
            **{
                status: {
                    "description": "Stripe's error object",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/error"}}
                    },
                }
                for status in ERROR_STATUSES
            },
        },
    }
    params = _declared_params(route)
    if route.method in {"GET", "DELETE"}:
        described["parameters"] += _query_parameters(params)
    elif route.operation.multipart:
        described["requestBody"] = _multipart_body(params)
    else:
        described["requestBody"] = _form_body(params)
    return described


def _declared_params(route: DeclaredRoute) -> dict[str, Param] | None:
    parser = route.operation.parse
    if not isinstance(parser, ParamsParser):
        return None
    return {**parser.params, "expand": EXPAND}


def _query_parameters(params: dict[str, Param] | None) -> list[dict[str, Any]]:
    """Query parameters in Stripe's bracket style: `created[gte]=...` (deepObject) for a
    hash, `expand[]=...` for a list. Undeclared: any query is accepted."""
    if params is None:
        return []
    described = []
    for name, param in params.items():
        if isinstance(param, ListOf):
            described.append(
                {
                    "name": f"{name}[]",
                    "in": "query",
                    "style": "form",
                    "explode": True,
                    "schema": param.schema(),
                }
            )
        elif isinstance(param, Struct | Metadata | TimestampRange):
            described.append(
                {
                    "name": name,
                    "in": "query",
                    "style": "deepObject",
                    "explode": True,
                    "schema": param.schema(),
                }
            )
        else:
            described.append({"name": name, "in": "query", "schema": param.schema()})
    return described


def _form_body(params: dict[str, Param] | None) -> dict[str, Any]:
    if params is None:
        schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
        encoding: dict[str, Any] = {}
    else:
        schema = object_schema(params)
        encoding = {
            name: {"style": "deepObject", "explode": True}
            for name, param in params.items()
            if isinstance(param, Struct | Metadata | TimestampRange | ListOf)
        }
    media: dict[str, Any] = {"schema": schema}
    if encoding:
        media["encoding"] = encoding
    return {"required": False, "content": {"application/x-www-form-urlencoded": media}}


def _multipart_body(params: dict[str, Param] | None) -> dict[str, Any]:
    """An upload's body (`POST /v1/files`): the file and the other parameters as parts,
    each named in Stripe's bracket style (`file_link_data[create]`)."""
    schema = object_schema(params or {})
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _response_content(route: DeclaredRoute) -> dict[str, Any]:
    """JSON, but for a file's download: its bytes, of its type's content type."""
    if route.resource is files.RESOURCE and route.template.endswith(f"/{files.CONTENTS}"):
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {kind.content_type: binary for kind in file_types.FILE_TYPES.values()}
    return {"application/json": {"schema": _response_schema(route)}}


def _response_schema(route: DeclaredRoute) -> dict[str, Any]:
    item = {"$ref": f"#/components/schemas/{route.resource.object_name}"}
    template, method = route.template, route.method
    if template.endswith("/search"):
        return _envelope("search_result", item)
    is_collection = template == route.resource.url or template.endswith(route.resource.collection)
    if method == "GET" and is_collection and not route.resource.singleton:
        return _envelope("list", item)
    if _is_own_object(route):
        return item
    # Actions, sublists and test helpers answer with an object of some kind, or a list.
    return {"type": "object", "required": ["object"]}


def _is_own_object(route: DeclaredRoute) -> bool:
    """The route answers with the resource's own object: its create, retrieve, update,
    delete (a deleted stub has `id`, `object` and `deleted`)."""
    resource, operation = route.resource, route.operation
    return any(
        operation is own
        for own in (resource.create, resource.retrieve, resource.update, resource.delete)
    )


def _envelope(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "url"],
        "properties": {
            "object": {"type": "string", "enum": [kind]},
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "url": {"type": "string"},
        },
    }


def _object_schema(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": [name]},
        },
    }


_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "enum": list(ERROR_TYPES)},
                "message": {"type": "string"},
                "code": {"type": "string"},
                "doc_url": {"type": "string"},
                "param": {"type": "string"},
                "decline_code": {"type": "string"},
            },
        }
    },
}


def _operation_id(route: DeclaredRoute) -> str:
    words = re.sub(r"[{}]", "", route.template.removeprefix("/v1/")).replace("/", "_")
    return f"{route.method.lower()}_{words}"
