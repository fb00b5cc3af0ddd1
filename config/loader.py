"""Load topology and policy YAML files, turning every mistake into one actionable line."""

from __future__ import annotations

import difflib
import re
import types
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from config.models import Policies, Topology
from config.notify import FILE_CONTEXT
from config.paths import default_policies_path, default_topology_path

__all__ = ["ConfigError", "load_config", "load_policies", "load_topology"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_SCALARS = (str, int, float, bool, type(None))


class ConfigError(Exception):
    """A configuration file is unusable; `str(err)` is "<file>: <field>: <problem>" on one line."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        self.file = _one_line(file)
        self.field = _one_line(field)
        self.problem = _one_line(problem)
        super().__init__(f"{self.file}: {self.field}: {self.problem}")


def load_topology(path: str | Path | None = None) -> Topology:
    """Read and validate a topology file (default: config/topology.yaml)."""
    return _load(Topology, default_topology_path() if path is None else path)


def load_policies(path: str | Path | None = None) -> Policies:
    """Read and validate a policies file (default: config/policies.yaml)."""
    return _load(Policies, default_policies_path() if path is None else path)


def load_config(
    topology_path: str | Path | None = None, policies_path: str | Path | None = None
) -> tuple[Topology, Policies]:
    """Both files at once; None means the shipped default for that file."""
    return load_topology(topology_path), load_policies(policies_path)


def _load(model: type[ModelT], path: str | Path) -> ModelT:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(file, "(file)", f"cannot read: {reason}") from exc

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(file, where, f"YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(file, "(file)", f"YAML syntax error: {exc}") from exc

    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {_yaml_kind(data)}"
        raise ConfigError(file, "(top level)", f"expected a mapping of field: value, got {got}")

    try:
        return model.model_validate(data, extra="forbid", context=FILE_CONTEXT)
    except ValidationError as exc:
        field, problem = _describe(model, exc)
        raise ConfigError(file, field, problem) from exc


_FIELD_PATH = re.compile(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$")


def _describe(model: type[BaseModel], exc: ValidationError) -> tuple[str, str]:
    """(field path, problem) for the first error pydantic reports."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    msg = str(error["msg"])
    kind = str(error["type"])
    value = error.get("input")
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)

    if not loc:
        # A cross-field check: its message starts with the field path.
        field, sep, problem = msg.partition(": ")
        return (field, problem) if sep else ("(top level)", msg)

    if loc[-1] == "[key]":
        loc = loc[:-1]
        msg = f"bad key: {msg}"

    field = _render_loc(loc)
    if kind == "value_error":
        # A nested model's cross-field check names a field inside that model first.
        inner, sep, problem = msg.partition(": ")
        if sep and _FIELD_PATH.match(inner):
            return f"{field}.{inner}", problem
    if kind == "extra_forbidden":
        return field, _unknown_field(model, loc)
    if isinstance(value, _SCALARS) and kind != "missing" and not _mentions(msg, repr(value)):
        msg = f"{msg}, got {value!r}"
    return field, msg


def _mentions(msg: str, text: str) -> bool:
    """True if `text` appears in `msg` as a whole token ("10" is not in "greater than 100")."""
    return re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", msg) is not None


def _render_loc(loc: tuple[Any, ...]) -> str:
    """('regions', 3, 'backup_region') -> 'regions[3].backup_region'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _unknown_field(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Say which fields are allowed where an unknown one appeared, with a guess for typos."""
    name = str(loc[-1])
    parent = _model_at(model, loc[:-1])
    if parent is None:
        return f"unknown field {name!r}"
    allowed = list(parent.model_fields)
    guess = difflib.get_close_matches(name, allowed, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown field {name!r} (allowed: {', '.join(allowed)}){hint}"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by following `loc` through fields, lists and dicts."""
    current: Any = model
    for part in loc:
        current = _strip_optional(current)
        origin, args = get_origin(current), get_args(current)
        if isinstance(part, int) and origin is list and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            return None
    current = _strip_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _strip_optional(annotation: Any) -> Any:
    """X | None -> X (other unions are left alone)."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _yaml_kind(data: object) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "string"
    if isinstance(data, bool):
        return "boolean"
    if isinstance(data, (int, float)):
        return "number"
    return type(data).__name__


def _one_line(text: str) -> str:
    """Join a multi-line message into one line; single-line text is returned unchanged."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()
