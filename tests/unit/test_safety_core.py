"""The pure parts of the e-stop (brain_common/estop.py) and of /diagnostics
(brain_common/health.py)."""

from __future__ import annotations

from brain_common.estop import EStopCommand, EStopState
from brain_common.health import ERROR, OK, WARN, Input, status


def cmd(engaged: bool, stamp: int, reason: str = "") -> EStopCommand:
    return EStopCommand(engaged, stamp, "test", reason)


def test_the_newest_command_wins_and_an_older_copy_changes_nothing():
    s = EStopState()
    assert not s.engaged
    assert s.update(cmd(True, 100))[0] and s.engaged
    assert s.update(cmd(False, 200))[0] and not s.engaged
    taken, why = s.update(cmd(True, 100))  # a late copy of the engage, from a slow node
    assert not taken and "older" in why and not s.engaged


def test_at_an_equal_stamp_an_engage_beats_a_release():
    s = EStopState()
    s.update(cmd(False, 100))
    assert s.update(cmd(True, 100))[0] and s.engaged
    assert not s.update(cmd(False, 100))[0] and s.engaged
    assert not s.update(cmd(True, 100))[0]  # the same command again: nothing new


def test_a_release_without_a_stamp_is_ignored_and_an_engage_without_one_is_honoured():
    s = EStopState()
    s.update(cmd(True, 100))
    taken, why = s.update(cmd(False, 0))
    assert not taken and "ignored" in why and s.engaged
    s2 = EStopState()
    assert s2.update(cmd(True, 0), now_ns=5_000)[0] and s2.engaged and s2.current.stamp_ns == 5_000


def test_describe_names_who_and_why():
    text = EStopCommand(True, 1_700_000_000_000_000_000, "armbrain estop (pid 7)", "person in the cell").describe()
    assert text.startswith("e-stop engaged by armbrain estop (pid 7) at ") and text.endswith(": person in the cell")


def test_health_is_ok_warn_on_stale_or_missing_input_error_on_faults_and_estop():
    fresh = Input("joint_states", 0.5, last_stamp=9.9)
    fresh.arrivals.extend([96.0 + 0.01 * i for i in range(100)])  # 100 in the last 5 s of wall time
    level, message, values = status([fresh], {}, "e-stop released by x at 12:00:00", now_ros=10.0, now_wall=100.0)
    assert (level, message) == (OK, "ok")
    assert dict(values)["joint_states rate (Hz)"] == "20.0" and dict(values)["joint_states age (s)"] == "0.10"
    stale = Input("perception/objects", 2.0, last_stamp=5.0)
    level, message, _ = status([fresh, stale], {}, None, now_ros=10.0, now_wall=100.0)
    assert level == WARN and "perception/objects stale: 5.0 s old (limit 2 s)" in message
    level, message, _ = status([Input("camera", 1.0)], {}, None, 10.0, 100.0)
    assert level == WARN and message == "no camera yet"
    level, message, values = status([], {"gripper": "no joint_states"}, None, 10.0, 100.0)
    assert level == ERROR and message == "no joint_states" and ("fault gripper", "no joint_states") in values
    level, message, _ = status([fresh], {}, "e-stop engaged by x at 12:00:00: test", 10.0, 100.0)
    assert level == ERROR and message.startswith("e-stop engaged")
    unwatched = Input("arm_controller/joint_trajectory", None)  # rate only, never stale
    assert status([unwatched], {}, None, 10.0, 100.0)[0] == OK


def test_unheard_names_every_other_publisher_whose_writer_has_not_spoken():
    from types import SimpleNamespace

    from brain_common.estop import unheard

    def pub(name: str, gid: list[int], ns: str = "/"):
        return SimpleNamespace(node_name=name, node_namespace=ns, endpoint_gid=gid)

    pubs = [pub("me", [1] * 16), pub("perception", [2] * 16), pub("grasping", [3] * 16), pub("cli", [])]
    assert unheard(pubs, set(), set(), ("me", "/")) == ["cli", "grasping", "perception"]
    # heard by writer id (MessageInfo), or by name where the middleware gives no id
    assert unheard(pubs, {bytes([2] * 16)}, {"cli"}, ("me", "/")) == ["grasping"]
    # a name alone does not count for a writer with an id: another writer of that node may have spoken
    assert unheard(pubs, {bytes([2] * 16), bytes([3] * 16)}, {"grasping"}, ("me", "/")) == ["cli"]
    assert unheard([pub("me", [1] * 16, "/other")], set(), set(), ("me", "/")) == ["me"]


def test_an_announcement_is_an_unstamped_release_that_names_its_node():
    from brain_common.estop import announcement, is_announcement, msg_from_command
    from brain_interfaces.msg import EStop

    assert is_announcement(announcement(EStop, "perception"))
    assert not is_announcement(EStop(engaged=False, source="fuzz"))  # a broken release: no publisher named
    assert not is_announcement(EStop(engaged=True, publisher="perception"))  # an unstamped engage is honoured
    assert not is_announcement(msg_from_command(EStop, EStopCommand(False, 5, "cli"), "perception"))
