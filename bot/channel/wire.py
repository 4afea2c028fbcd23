"""Bot Framework activities to and from JSON, as msrest does it, without its per-call overhead.

botbuilder's schema classes are msrest models; `Model.serialize` and `Model.deserialize` walk
them generically (a copied attribute description and two key extractors per field, a key
transformer and a context dictionary per value), which costs about a quarter of a short turn.
The walk here does the same for the shapes the Bot Connector really sends and the bot really
builds, and hands every other case to msrest itself:

- keys are matched exactly, as msrest's REST extractor does; unknown keys become the model's
  `additional_properties`, as msrest does;
- a model field that is not an object, a list of models that is not a list of objects, any
  value msrest refuses: msrest decides, for the whole body;
- every leaf value goes through the same msrest (de)serializer function msrest would call.

So the result is msrest's (tests compare both on real and altered payloads), only faster.
"""

from __future__ import annotations

import inspect
from enum import Enum
from typing import Any, TypeVar

import botbuilder.schema
import botbuilder.schema.teams
from msrest.serialization import Deserializer, Model, Serializer

M = TypeVar("M", bound=Model)

_MODELS: dict[str, type[Any]] = {
    name: cls
    for module in (botbuilder.schema, botbuilder.schema.teams)
    for name, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, Model) or issubclass(cls, Enum)
}
_SERIALIZER = Serializer(_MODELS)  # type: ignore[no-untyped-call]
_DESERIALIZER = Deserializer(_MODELS)  # type: ignore[no-untyped-call]
_PLAIN = (str, int, float, bool)


class _Unusual(Exception):
    """A shape the fast walk leaves to msrest."""


Fields = tuple[tuple[tuple[str, str, str], ...], frozenset[str]]
_FIELDS: dict[type[Model], Fields] = {}


def _fields(cls: type[Model]) -> Fields:
    """(attribute, JSON key, type) per field, and the keys."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    fields = tuple((attr, desc["key"], desc["type"]) for attr, desc in cls._attribute_map.items())
    if any("." in key or not key for _, key, _ in fields):
        raise _Unusual  # flattened or additional-properties keys: none in botbuilder's schema
    if getattr(cls, "_validation", None) or getattr(cls, "_subtype_map", None):
        raise _Unusual  # readonly or constant fields, polymorphism: none either
    known = _FIELDS[cls] = (fields, frozenset(key for _, key, _ in fields))
    return known


def _model_type(type_: str) -> type[Model] | None:
    found = _MODELS.get(type_)
    return found if found is not None and issubclass(found, Model) else None


# -- JSON to models ------------------------------------------------------------------------------


def _from_json(cls: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise _Unusual
    fields, keys = _fields(cls)
    extra = {key: value for key, value in data.items() if key not in keys}
    values: dict[str, Any] = {}
    for attr, key, type_ in fields:
        raw = data.get(key)
        if raw is None:
            values[attr] = None
            continue
        if (type_ == "str" and type(raw) is str) or (type_ == "bool" and type(raw) is bool):
            values[attr] = raw  # what msrest's deserialize_basic returns for them
            continue
        model = _model_type(type_)
        if model is not None:
            values[attr] = _from_json(model, raw)
        elif type_.startswith("[") and (model := _model_type(type_[1:-1])) is not None:
            if not isinstance(raw, list):
                raise _Unusual
            values[attr] = [_from_json(model, item) for item in raw]
        elif type_.startswith("{") and _model_type(type_[1:-1]) is not None:
            raise _Unusual
        else:
            values[attr] = _DESERIALIZER.deserialize_data(raw, type_)  # type: ignore[no-untyped-call]
    instance = cls(**values)
    if extra:
        instance.additional_properties = extra
    return instance


def from_json(cls: type[M], data: Any) -> M:
    """`cls().deserialize(data)`; raises what msrest raises on what it refuses."""
    try:
        return _from_json(cls, data)
    except Exception:  # noqa: BLE001 - an unusual shape or a bad value: msrest alone decides, and raises
        return cls.deserialize(data)  # type: ignore[no-any-return,no-untyped-call]


# -- models to JSON ------------------------------------------------------------------------------


def _plain_object(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            out[key] = None if item is None else _plain_object(item)
        return out
    if kind is list:
        return [None if item is None else _plain_object(item) for item in value]
    raise _Unusual


def _to_json(model: Model) -> dict[str, Any]:
    fields, _ = _fields(type(model))
    out: dict[str, Any] = {}
    for attr, key, type_ in fields:
        value = getattr(model, attr)
        if value is None:
            continue
        kind = type(value)
        if (type_ == "str" and kind is str) or (type_ == "bool" and kind is bool):
            out[key] = value
        elif type_ == "object":
            try:
                out[key] = _plain_object(value)
            except _Unusual:
                out[key] = _SERIALIZER.serialize_data(value, type_)  # type: ignore[no-untyped-call]
        elif isinstance(value, Model) and _model_type(type_) is type(value):
            out[key] = _to_json(value)
        elif (
            kind is list
            and type_.startswith("[")
            and (element := _model_type(type_[1:-1])) is not None
            and all(type(item) is element for item in value)
        ):
            out[key] = [_to_json(item) for item in value]
        else:
            out[key] = _SERIALIZER.serialize_data(value, type_)  # type: ignore[no-untyped-call]
    return out


def to_json(model: Model) -> dict[str, Any]:
    """`model.serialize()`."""
    try:
        return _to_json(model)
    except _Unusual:
        return model.serialize()  # type: ignore[no-any-return,no-untyped-call]
