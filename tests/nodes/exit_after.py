"""Test node: exits with `exit_code` after `delay` seconds of wall time, or runs
until stopped when delay < 0. Used to test the launcher's supervision."""

import sys

import rclpy
from rclpy.node import Node

from brain_common.runtime import run_node


class ExitAfter(Node):
    def __init__(self) -> None:
        super().__init__("exit_after")
        self.declare_parameter("delay", -1.0)
        self.declare_parameter("exit_code", 0)
        self.declare_parameter("ignore_sigint", False)
        delay = float(self.get_parameter("delay").value)
        self.get_logger().info(f"up, delay {delay}")
        if delay >= 0:
            self._timer = self.create_timer(delay, self._exit)

    def _exit(self) -> None:
        code = int(self.get_parameter("exit_code").value)
        self.get_logger().info(f"exiting with {code}")
        sys.stdout.flush()
        rclpy.try_shutdown()
        sys.exit(code)


def main(args=None):
    return run_node(ExitAfter, args)


if __name__ == "__main__":
    raise SystemExit(main())
