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


# -- the shipped described files against the code's defaults ----------------------------

SRC = __import__("conftest").ROOT / "ros2_ws" / "src"
SIM = __import__("conftest").ROOT / "sim"


def _specs(path, node):
    return load_param_specs(path, node)


def _same(a, b):
    return list(a) == list(b) if isinstance(a, list | tuple) else a == b


NODE_ONLY = {  # read by the node itself, not part of a core config dataclass
    "perception": {"cell_file", "rate", "sync_queue", "time_jump_back", "extrinsics_wait", "input_max_age"},
    "grasping": {"cell_file", "feedback_period", "joint_states_timeout"},
    "planner": {"cell_file"},
}


def _check(specs, configs, renames, node):
    """Every described parameter maps to a field of one of `configs` (or is node-only), and
    the field's code default equals the file's default."""
    unmapped, differ = [], []
    for name, spec in specs.items():
        if name in NODE_ONLY.get(node, set()):
            continue
        field = renames.get(name, name.split(".")[-1])
        owners = [c for c in configs if hasattr(c, field)]
        if not owners:
            unmapped.append(name)
            continue
        code = getattr(owners[0], field)
        if not _same(code, spec.default):
            differ.append(f"{name}: code {code!r} != file {spec.default!r}")
    assert not unmapped, f"{node}: described parameters no config reads: {unmapped}"
    assert not differ, f"{node}: code defaults differ from config/{node}.params.yaml: {differ}"


def test_perception_code_defaults_are_the_described_ones():
    from perception.core import PerceptionConfig

    _check(_specs(SRC / "perception" / "config" / "perception.params.yaml", "perception"), [PerceptionConfig()], {},
           "perception")


def test_planner_code_defaults_are_the_described_ones():
    from planner.motion.config import MotionConfig
    from planner.task.runner import RunnerConfig

    mc = MotionConfig()
    renames = {"motion.start_tolerance": "start", "motion.path_tolerance": "path", "motion.goal_tolerance": "goal"}
    specs = _specs(SRC / "planner" / "config" / "planner.params.yaml", "planner")
    motion = {n: s for n, s in specs.items() if n.startswith("motion.")}
    task = {n: s for n, s in specs.items() if n.startswith("task.")}
    _check(motion, [mc, mc.planner, mc.tolerances], renames, "planner")
    _check(task, [RunnerConfig()], {}, "planner")


def test_grasping_code_defaults_are_the_described_ones():
    from grasping.core import GraspCheckConfig, GripperConfig, SynthesisConfig

    renames = {"gripper_timeout": "timeout", "lost_debounce": "debounce"}
    _check(_specs(SRC / "grasping" / "config" / "grasping.params.yaml", "grasping"),
           [SynthesisConfig(), GripperConfig(), GraspCheckConfig()], renames, "grasping")


def test_sim_bridge_description_is_valid():
    specs = _specs(SIM / "config" / "sim_bridge.params.yaml", "sim_bridge")
    assert {"scenario", "seed", "real_time_factor", "gripper_force", "cell_file"} <= set(specs)


def test_a_drifting_code_default_is_caught(tmp_path):
    from perception.core import PerceptionConfig

    p = tmp_path / "perception.params.yaml"
    p.write_text("perception:\n  plane_tolerance: {type: double, default_value: 0.005, description: m}\n"
                 "  not_read_anywhere: {type: double, default_value: 1.0, description: m}\n")
    specs = load_param_specs(p, "perception")
    with pytest.raises(AssertionError, match=r"plane_tolerance: code 0.004 != file 0.005"):
        _check({"plane_tolerance": specs["plane_tolerance"]}, [PerceptionConfig()], {}, "perception")
    with pytest.raises(AssertionError, match=r"described parameters no config reads: \['not_read_anywhere'\]"):
        _check({"not_read_anywhere": specs["not_read_anywhere"]}, [PerceptionConfig()], {}, "perception")
