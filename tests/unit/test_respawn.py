"""armbrain.respawn: the launcher's restart schedule (backoff, limit, window) and the
graph fields that describe it, without processes."""

import pytest

from armbrain.graph import GraphError, load_graph
from armbrain.respawn import RespawnPolicy, check_respawn_policy


def schedule(policy: RespawnPolicy, deaths: list[float]) -> list[float | None]:
    """The delays the launcher chooses for a node dying at `deaths` (it restarts at death + delay)."""
    restarts: list[float] = []
    out = []
    for t in deaths:
        delay = policy.next_delay(restarts, t)
        out.append(delay)
        if delay is not None:
            restarts.append(t + delay)
    return out


def test_delay_doubles_up_to_the_cap_then_gives_up_at_the_limit():
    p = RespawnPolicy(delay=1.0, max_delay=5.0, limit=5, window=60.0)
    assert schedule(p, [0.0, 2.0, 5.0, 10.0, 16.0, 22.0]) == [1.0, 2.0, 4.0, 5.0, 5.0, None]


def test_a_node_that_stays_up_for_a_window_starts_over():
    p = RespawnPolicy(delay=0.5, max_delay=8.0, limit=2, window=10.0)
    # Two quick deaths use the two restarts; the third, 100 s later, starts the backoff over.
    assert schedule(p, [0.0, 1.0, 100.0, 101.0, 102.0]) == [0.5, 1.0, 0.5, 1.0, None]


def test_restarts_outside_the_window_are_not_counted():
    p = RespawnPolicy(delay=1.0, max_delay=30.0, limit=3, window=10.0)
    assert p.recent([1.0, 5.0, 12.0], now=14.0) == 2
    assert p.next_delay([1.0, 5.0, 12.0], now=14.0) == 4.0
    assert p.next_delay([5.0, 8.0, 12.0], now=14.0) is None


def test_defaults_and_fields():
    assert check_respawn_policy({"respawn": True}, "n") == RespawnPolicy(1.0, 30.0, 5, 60.0)
    assert check_respawn_policy({"respawn_delay": 0, "respawn_max_delay": 2, "respawn_max": 1,
                                 "respawn_window": 5}, "n") == RespawnPolicy(0.0, 2.0, 1, 5.0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"respawn_delay": -1}, "n.respawn_delay: -1 is not valid; expected a number of seconds >= 0"),
    ({"respawn_delay": "soon"}, "n.respawn_delay: 'soon' is not valid; expected a number of seconds >= 0"),
    ({"respawn_window": 0}, "n.respawn_window: 0 is not valid; expected a number of seconds > 0"),
    ({"respawn_max": 0}, "n.respawn_max: 0 is not valid; expected a whole number of restarts >= 1"),
    ({"respawn_max": 2.5}, "n.respawn_max: 2.5 is not valid; expected a whole number of restarts >= 1"),
    ({"respawn_max": True}, "n.respawn_max: True is not valid; expected a whole number of restarts >= 1"),
    ({"respawn_delay": 4, "respawn_max_delay": 2},
     "n.respawn_max_delay: 2 is less than respawn_delay 4; expected the cap of the doubling delay"),
])
def test_bad_fields_name_the_field_the_value_and_what_is_valid(fields, message):
    with pytest.raises(ValueError) as err:
        check_respawn_policy(fields, "n")
    assert str(err.value).startswith(message)


def test_graph_errors_for_respawn_fields(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("nodes:\n  - {name: n, script: n.py, respawn: true, respawn_max: -3}\n")
    with pytest.raises(GraphError, match=r"g.yaml: nodes\[0\] \(n\).respawn_max: -3 is not valid; expected a whole"):
        load_graph(path)
    path.write_text("nodes:\n  - {name: n, script: n.py, respawn_max: 3}\n")
    with pytest.raises(GraphError, match=r"nodes\[0\] \(n\): respawn_max given but respawn is not true; add "
                                         r"'respawn: true' or remove them"):
        load_graph(path)
    path.write_text("nodes:\n  - {name: n, script: n.py, respawn: true, respawn_limit: 3}\n")
    with pytest.raises(GraphError, match=r"unknown key\(s\) \['respawn_limit'\]; valid: .*'respawn_max'"):
        load_graph(path)
