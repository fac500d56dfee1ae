"""Node parameters declared one way: one described file per node is the single source of
their types, defaults, ranges and descriptions (in the spirit of ros2_controllers'
generate_parameter_library YAML).

A described file (``<package>/config/<node>.params.yaml``)::

    planner:                       # the node's name
      motion:                      # a group: its parameters are motion.<name>
        velocity_scale:
          type: double             # bool | int | double | string | double_array | int_array | string_array
          default_value: 0.8
          description: fraction of the URDF velocity limits used
          range: [0.05, 1.0]       # optional, inclusive (numbers and every element of number arrays)
          length: 7                # optional, arrays: the exact number of elements
          read_only: true          # optional, default true (the node reads its parameters once)

:func:`load_param_specs` reads and checks such a file (pure); :func:`param_defaults` gives
the defaults (what tests and benches build configs from); :func:`declare_parameters`
declares them on an rclpy node with a ParameterDescriptor each and returns the values,
checked against their range and length (a bad override raises ValueError naming the
parameter, the value and what is valid).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TYPES = ("bool", "int", "double", "string", "double_array", "int_array", "string_array")
SPEC_KEYS = ("type", "default_value", "description", "range", "length", "read_only")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: name (dotted for groups), type (see TYPES), default, description,
    range (lo, hi) or None, length of an array or None, read_only."""

    name: str
    type: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    length: int | None = None
    read_only: bool = True


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_param_value(spec: ParamSpec, value: Any) -> Any:
    """`value` converted to the spec's type (ints are accepted for doubles); ValueError
    naming the parameter, the value and what is valid."""
    where = f"parameter {spec.name}"
    t = spec.type
    if t == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where} = {value!r} must be true or false")
        return value
    if t == "string":
        if not isinstance(value, str):
            raise ValueError(f"{where} = {value!r} must be a string")
        return value
    if t in ("int", "double"):
        if not _is_number(value) or (t == "int" and not isinstance(value, int)):
            raise ValueError(f"{where} = {value!r} must be {'an integer' if t == 'int' else 'a number'}")
        out = int(value) if t == "int" else float(value)
        if t == "double" and not math.isfinite(out):
            raise ValueError(f"{where} = {value!r} must be finite")
        _check_range(spec, out, where)
        return out
    # arrays
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where} = {value!r} must be a list ({t})")
    if spec.length is not None and len(value) != spec.length:
        raise ValueError(f"{where} = {list(value)!r} must have {spec.length} elements, not {len(value)}")
    if t == "string_array":
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"{where} = {list(value)!r} must be a list of strings")
        return list(value)
    if not all(_is_number(v) and (t == "double_array" or isinstance(v, int)) for v in value):
        raise ValueError(f"{where} = {list(value)!r} must be a list of {'integers' if t == 'int_array' else 'numbers'}")
    out = [int(v) for v in value] if t == "int_array" else [float(v) for v in value]
    for v in out:
        if not math.isfinite(v):
            raise ValueError(f"{where} = {list(value)!r} must hold finite numbers")
        _check_range(spec, v, where, list(value))
    return out


def _check_range(spec: ParamSpec, v: float, where: str, whole: Any = None) -> None:
    if spec.range is not None and not spec.range[0] <= v <= spec.range[1]:
        shown = whole if whole is not None else v
        raise ValueError(f"{where} = {shown!r} is out of range; valid: {spec.range[0]:g} .. {spec.range[1]:g}")


def _spec(name: str, raw: Mapping[str, Any], where: str) -> ParamSpec:
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"{where}: {name}.{unknown[0]} is not a known key; valid: {', '.join(SPEC_KEYS)}")
    t = raw.get("type")
    if t not in TYPES:
        raise ValueError(f"{where}: {name}.type = {t!r}; valid: {', '.join(TYPES)}")
    if "default_value" not in raw:
        raise ValueError(f"{where}: {name} has no default_value")
    desc = raw.get("description")
    if not isinstance(desc, str) or not desc.strip():
        raise ValueError(f"{where}: {name} needs a description (what it is, its unit)")
    rng = raw.get("range")
    if rng is not None and (not isinstance(rng, list) or len(rng) != 2 or not all(_is_number(v) for v in rng)
                            or rng[0] > rng[1]):
        raise ValueError(f"{where}: {name}.range = {rng!r} must be [low, high]")
    length = raw.get("length")
    if length is not None and (not isinstance(length, int) or length < 1 or not t.endswith("_array")):
        raise ValueError(f"{where}: {name}.length = {length!r} must be a positive integer, for arrays only")
    spec = ParamSpec(name, t, None, desc.strip(), tuple(float(v) for v in rng) if rng else None, length,
                     bool(raw.get("read_only", True)))
    try:
        default = check_param_value(spec, raw["default_value"])
    except ValueError as exc:
        raise ValueError(f"{where}: default_value: {exc}") from None
    return ParamSpec(spec.name, t, default, spec.description, spec.range, length, spec.read_only)


def _walk(group: Mapping[str, Any], prefix: str, where: str, out: dict[str, ParamSpec]) -> None:
    for key, raw in group.items():
        name = f"{prefix}{key}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: {name} must be a mapping (a parameter with type, default_value, "
                             "description, or a group of them)")
        if "type" in raw:
            out[name] = _spec(name, raw, where)
        else:
            _walk(raw, f"{name}.", where, out)


def load_param_specs(path: str | Path, node: str) -> dict[str, ParamSpec]:
    """The described parameters of `node` in `path`, by (dotted) name, in file order.
    Raises ValueError naming the file and the bad entry."""
    from brain_common.files import read_yaml

    p = Path(path)
    data = read_yaml(p, "parameter description")
    if not isinstance(data, Mapping) or not isinstance(data.get(node), Mapping):
        raise ValueError(f"parameter description {p} must map the node name '{node}' to its parameters")
    out: dict[str, ParamSpec] = {}
    _walk(data[node], "", str(p), out)
    return out


def in_group(values: Mapping[str, Any], group: str = "") -> dict[str, Any]:
    """The entries of `values` (dotted name -> anything) in `group`, by their name inside it;
    every entry for the empty group."""
    prefix = f"{group}." if group else ""
    return {n[len(prefix):]: v for n, v in values.items() if n.startswith(prefix)}


def param_defaults(specs: Mapping[str, ParamSpec], group: str = "") -> dict[str, Any]:
    """name -> default; with `group`, only that group's parameters, by their name inside it."""
    return in_group({n: s.default for n, s in specs.items()}, group)


def node_param_specs(package: str, node: str) -> dict[str, ParamSpec]:
    """The described parameters of `node` from share/<package>/config/<node>.params.yaml."""
    from brain_common.share import share_dir

    return load_param_specs(share_dir(package) / "config" / f"{node}.params.yaml", node)


def declare_parameters(node: Any, specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Declare every spec on the rclpy `node` (type, default, description, range, read-only)
    and return name -> value (an override from a parameters file or -p wins), checked."""
    from rcl_interfaces.msg import IntegerRange, ParameterDescriptor

    values: dict[str, Any] = {}
    for name, s in specs.items():
        desc = ParameterDescriptor(description=s.description, read_only=s.read_only)
        if s.type in ("double", "double_array"):
            # An integer given for a double (`-p rate:=1`) is a number all the same: take any
            # numeric type, then check_param_value converts it and enforces the range.
            desc.dynamic_typing = True
            if s.range is not None:
                desc.additional_constraints = f"{'every element ' if s.type.endswith('_array') else ''}in " \
                                              f"{s.range[0]:g} .. {s.range[1]:g}"
        elif s.range is not None and s.type == "int":
            desc.integer_range = [IntegerRange(from_value=int(s.range[0]), to_value=int(s.range[1]), step=1)]
        elif s.range is not None:
            desc.additional_constraints = f"every element in {s.range[0]:g} .. {s.range[1]:g}"
        try:
            value = node.declare_parameter(name, s.default, desc).value
        except ValueError:
            raise
        except Exception as exc:  # rclpy's Invalid* exceptions for a bad override: name it, plainly
            raise ValueError(f"parameter {name}: {exc}; expected {s.type}"
                             + (f" in {s.range[0]:g} .. {s.range[1]:g}" if s.range else "")) from None
        values[name] = check_param_value(s, value if not isinstance(value, tuple) else list(value))
    return values
