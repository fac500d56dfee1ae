"""Test node: a small ExecuteTask action server.

command "stages N" runs N stages ("stage_1" ... "stage_N"), one per `stage_period`
seconds, with feedback on each; anything else ends with INVALID_GOAL. Cancel is
honoured between stages and returns CANCELED with the stages done so far, unless
`honour_cancel` is false (a hung planner: it accepts the cancel and goes on).
"""

import threading

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from brain_common.runtime import run_node
from brain_interfaces.action import ExecuteTask
from brain_interfaces.msg import StageReport

Result = ExecuteTask.Result


class TaskServer(Node):
    def __init__(self) -> None:
        super().__init__("task_server")
        self.declare_parameter("stage_period", 0.05)
        self._period = float(self.get_parameter("stage_period").value)
        self.declare_parameter("honour_cancel", True)
        self._honour_cancel = bool(self.get_parameter("honour_cancel").value)
        self._server = ActionServer(
            self, ExecuteTask, "execute_task", execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _handle: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())
        self.get_logger().info("task server ready")

    def _execute(self, handle):
        words = handle.request.command.split()
        result = Result()
        if len(words) != 2 or words[0] != "stages" or not words[1].isdigit():
            handle.abort()
            result.error_code = Result.INVALID_GOAL
            result.message = f"cannot parse {handle.request.command!r}; expected 'stages N'"
            return result
        n = int(words[1])
        pace = threading.Event()  # pacing of simulated work, not synchronisation
        for i in range(1, n + 1):
            if handle.is_cancel_requested and self._honour_cancel:
                handle.canceled()
                result.error_code = Result.CANCELED
                result.failed_stage = f"stage_{i}"
                result.message = f"canceled before stage {i} of {n}"
                return result
            fb = ExecuteTask.Feedback(stage=f"stage_{i}", attempt=1, progress=i / n,
                                      message=f"stage {i} of {n}")
            handle.publish_feedback(fb)
            pace.wait(self._period)
            result.stages.append(StageReport(stage=f"stage_{i}", attempt=1, duration=self._period,
                                             success=True))
        handle.succeed()
        result.success = True
        result.error_code = Result.SUCCESS
        result.message = f"ran {n} stages"
        return result


def main(args=None):
    return run_node(TaskServer, args, executor_factory=MultiThreadedExecutor)


if __name__ == "__main__":
    raise SystemExit(main())
