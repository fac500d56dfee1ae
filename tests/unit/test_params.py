"""brain_common.params: one described file per node is the single source of parameter
types, defaults, ranges and descriptions."""

import pytest

from brain_common.params import ParamSpec, check_param_value, load_param_specs, param_defaults

GOOD = """
planner:
  motion:
    velocity_scale: {type: double, default_value: 0.8, range: [0.05, 1.0], description: fraction of URDF limits}
    acceleration_limits: {type: double_array, default_value: [1, 2], length: 2, range: [0.1, 20],
                          description: rad/s^2 per joint}
  task:
    max_attempts: {type: int, default_value: 3, range: [1, 10], description: grasp attempts per object}
    home: {type: double_array, default_value: [0.0, -0.5], description: rad}
  name: {type: string, default_value: x, description: a name, read_only: false}
"""


def write(tmp_path, text):
    p = tmp_path / "planner.params.yaml"
    p.write_text(text)
    return p


def test_a_described_file_gives_specs_and_defaults(tmp_path):
    specs = load_param_specs(write(tmp_path, GOOD), "planner")
    assert list(specs) == ["motion.velocity_scale", "motion.acceleration_limits", "task.max_attempts", "task.home",
                           "name"]
    v = specs["motion.velocity_scale"]
    assert (v.type, v.default, v.range, v.read_only) == ("double", 0.8, (0.05, 1.0), True)
    assert specs["motion.acceleration_limits"].default == [1.0, 2.0]  # ints accepted for doubles
    assert specs["name"].read_only is False
    assert param_defaults(specs, "task") == {"max_attempts": 3, "home": [0.0, -0.5]}
    assert param_defaults(specs)["motion.velocity_scale"] == 0.8


@pytest.mark.parametrize(("text", "message"), [
    ("planner:\n  a: {type: float, default_value: 1, description: d}\n", r"a.type = 'float'; valid: bool, int"),
    ("planner:\n  a: {type: double, description: d}\n", "a has no default_value"),
    ("planner:\n  a: {type: double, default_value: 1}\n", "a needs a description"),
    ("planner:\n  a: {type: double, default_value: 2, range: [0, 1], description: d}\n",
     r"default_value: parameter a = 2.0 is out of range; valid: 0 .. 1"),
    ("planner:\n  a: {type: int, default_value: 1.5, description: d}\n", "parameter a = 1.5 must be an integer"),
    ("planner:\n  a: {type: double_array, default_value: [1], length: 2, description: d}\n",
     r"must have 2 elements, not 1"),
    ("planner:\n  a: {type: double, default_value: 1, descripton: d}\n", r"a.descripton is not a known key"),
    ("other:\n  a: {type: double, default_value: 1, description: d}\n", "must map the node name 'planner'"),
    ("planner:\n  a: 3\n", "a must be a mapping"),
])
def test_bad_descriptions_are_refused_naming_the_entry(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_param_specs(write(tmp_path, text), "planner")


def test_values_are_checked_against_type_range_and_length():
    s = ParamSpec("motion.velocity_scale", "double", 0.8, "d", (0.05, 1.0))
    assert check_param_value(s, 1) == 1.0
    with pytest.raises(ValueError, match=r"motion.velocity_scale = 1.5 is out of range; valid: 0.05 .. 1"):
        check_param_value(s, 1.5)
    with pytest.raises(ValueError, match="must be a number"):
        check_param_value(s, "fast")
    a = ParamSpec("jerk", "double_array", [1.0] * 2, "d", (1.0, 100.0), 2)
    with pytest.raises(ValueError, match=r"jerk = \[1, 500\] is out of range"):
        check_param_value(a, [1, 500])
    assert check_param_value(ParamSpec("b", "bool", True, "d"), False) is False
    with pytest.raises(ValueError, match="must be true or false"):
        check_param_value(ParamSpec("b", "bool", True, "d"), 1)
