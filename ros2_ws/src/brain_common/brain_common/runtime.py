"""What every armbrain node's ``main()`` does: init, spin, clean shutdown.

    def main(args=None):
        return run_node(PerceptionNode, args)

- A missing or malformed ``--params-file`` ends the process with one line naming
  the file and the problem (exit code 2), not an rcl traceback.
- A ValueError raised while the node is constructed (a bad parameter value,
  see the ``check_*`` validators) ends it the same way.
- SIGINT and SIGTERM stop it cleanly: no traceback, exit code 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from brain_common.files import read_yaml


def params_files_from_args(argv: list[str]) -> list[str]:
    """The files given with ``--params-file`` after ``--ros-args``."""
    files, in_ros = [], False
    for i, a in enumerate(argv):
        if a == "--ros-args":
            in_ros = True
        elif a == "--":
            in_ros = False
        elif in_ros and a == "--params-file" and i + 1 < len(argv):
            files.append(argv[i + 1])
    return files


def check_parameters_file(path: Path) -> None:
    """Raise ValueError (naming the file and the problem) unless `path` is a readable ROS 2 parameters file.

    Valid: a YAML mapping ``<node name or /**>: {ros__parameters: {...}}``.
    """
    data = read_yaml(path, "parameters file")
    if not isinstance(data, dict) or not data:
        raise ValueError(f"parameters file {path} must map node names to "
                         "{ros__parameters: {...}}; got " + type(data).__name__)
    for key, section in data.items():
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"parameters file {path}: '{key}' must contain a 'ros__parameters' mapping")


def _fail(name: str, message: str) -> int:
    print(f"{name}: error: {message}", file=sys.stderr, flush=True)
    return 2


def _shutting_down(rclpy, grace: float = 1.0) -> bool:
    """True when the ROS context is (or within `grace` seconds becomes) shut down."""
    import time

    deadline = time.monotonic() + grace
    while rclpy.ok():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_node(node_factory: Callable[[], object], args: list[str] | None = None,
             executor_factory: Callable[[], object] | None = None, name: str | None = None,
             spin: Callable[[object, object], None] | None = None) -> int:
    """Run one node until shutdown; returns the process exit code.

    node_factory: builds the rclpy Node (called after rclpy.init).
    executor_factory: defaults to a SingleThreadedExecutor.
    spin: spin(executor, node) runs the node's main loop (default executor.spin()),
    for nodes that drive their own loop, such as the simulator.
    """
    from pathlib import Path

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    argv = list(sys.argv if args is None else args)
    name = name or (Path(argv[0]).name if argv else "node")
    for f in params_files_from_args(argv):
        try:
            check_parameters_file(Path(f))
        except ValueError as exc:
            return _fail(name, str(exc))
    try:
        rclpy.init(args=argv)
    except Exception as exc:  # rcl reports argument errors as RCLError
        return _fail(name, f"cannot initialise ROS: {str(exc).splitlines()[0]}")
    node = None
    code = 0
    try:
        node = node_factory()
        executor = executor_factory() if executor_factory else SingleThreadedExecutor()
        executor.add_node(node)
        if spin is None:
            executor.spin()
        else:
            spin(executor, node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as exc:
        code = _fail(name, str(exc))
    except Exception:
        # SIGINT/SIGTERM shuts the context down under the constructor's or the
        # executor's feet (rclpy then raises e.g. RuntimeError from take_message);
        # that is a requested stop, not a crash. Anything else is a crash.
        if not _shutting_down(rclpy):
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code
