"""The cell perceived instead of configured: the bin (pose, size, contents), the camera-bump
policy around it, and the white balance that tells the table's paint from the light."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from perception.core import PALETTE, Perception, PerceptionConfig, check_config
from perception.core.bin_detection import BinEstimate, bin_pose_error, bin_prior, fit_bin, normalise_rectangle_yaw
from perception.core.colour import estimate_white_balance
from perception.core.synthetic import Solid, default_camera, render

RGB = dict(PALETTE)
W, H = 320, 240
GREY = (0.35, 0.35, 0.38)
ROBOT = Solid("cylinder", (0.0, 0.0), (0.16, 0.16, 0.6), 0.0, (1.0, 1.0, 1.0))  # the robot's white column


def camera() -> tuple[np.ndarray, np.ndarray]:
    K, T = default_camera()
    K = K.copy()
    K[0, 0] *= 0.5
    K[1, 1] *= 0.5
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * 0.5 - 0.5, (K[1, 2] + 0.5) * 0.5 - 0.5
    return K, T


def bin_solids(cx: float, cy: float, yaw: float, ix: float, iy: float, wall: float = 0.06) -> list[Solid]:
    """A bin: 5 mm floor and four walls 1 cm thick, inside ix x iy, turned by yaw about its centre."""
    c, s = math.cos(yaw), math.sin(yaw)

    def at(u: float, v: float) -> tuple[float, float]:
        return (cx + c * u - s * v, cy + s * u + c * v)

    return [Solid("box", (cx, cy), (ix, iy, 0.005), yaw, GREY),
            Solid("box", at((ix + 0.01) / 2, 0), (0.01, iy + 0.02, wall), yaw, GREY),
            Solid("box", at(-(ix + 0.01) / 2, 0), (0.01, iy + 0.02, wall), yaw, GREY),
            Solid("box", at(0, (iy + 0.01) / 2), (ix + 0.02, 0.01, wall), yaw, GREY),
            Solid("box", at(0, -(iy + 0.01) / 2), (ix + 0.02, 0.01, wall), yaw, GREY)]


def process(solids, config=None, T_true=None, **kw):
    K, T = camera()
    rgb, depth = render(solids, K, T if T_true is None else T_true, width=W, height=H, **kw)
    return Perception(config or PerceptionConfig()).process(rgb, depth, K, T, 0.0)


# -- the bin's pose and what stands in it --------------------------------------------------

def test_a_moved_rotated_resized_bin_is_perceived_and_its_contents_reported_apart():
    yaw = math.radians(30.0)
    beside = Solid("box", (0.55, 0.12), (0.04, 0.04, 0.04), 0.3, RGB["red"])
    inside = Solid("box", (0.47, -0.22), (0.04, 0.04, 0.04), 0.1, RGB["blue"], bottom=0.005)
    result = process([beside, inside, *bin_solids(0.47, -0.22, yaw, 0.25, 0.15)], columns=[ROBOT])
    b = result.bin
    assert b.source == "perceived" and b.confidence > 0.5
    assert math.hypot(b.center[0] - 0.47, b.center[1] + 0.22) < 0.004
    assert math.degrees(b.yaw) == pytest.approx(30.0, abs=1.0)  # within 45 deg of the prior's 0: no swap
    assert b.inner_size == pytest.approx((0.25, 0.15), abs=0.006)
    assert b.wall_height == pytest.approx(0.06, abs=0.003)
    assert b.wall_thickness == pytest.approx(0.01, abs=0.004)
    assert [o.label for o in result.objects] == ["red cube"]  # neither the walls nor the blue cube
    np.testing.assert_allclose(result.objects[0].position, beside.position, atol=0.003)
    assert [o.label for o in result.bin_contents] == ["blue cube"] and result.bin_contents[0].id == "bin_0"
    np.testing.assert_allclose(result.bin_contents[0].position[:2], inside.centre, atol=0.004)
    assert any(w.startswith("bin seen at (0.47") for w in result.warnings)


def test_a_bin_turned_past_45_degrees_is_given_in_the_prior_s_axes():
    result = process([*bin_solids(0.47, -0.22, math.radians(70.0), 0.25, 0.15)], columns=[ROBOT])
    b = result.bin
    assert math.degrees(b.yaw) == pytest.approx(-20.0, abs=1.0)  # 70 deg - 90 deg, sides swapped
    assert b.inner_size == pytest.approx((0.15, 0.25), abs=0.006)


def test_a_bin_out_of_view_is_the_prior_with_a_warning():
    result = process([Solid("box", (0.5, 0.0), (0.04, 0.04, 0.04), 0.0, RGB["red"])])
    assert result.bin == bin_prior((0.45, 0.42), 0.0, (0.38, 0.22), 0.06, 0.01)
    assert result.bin.source == "prior" and result.bin.inner_size == pytest.approx((0.36, 0.20))
    assert any(w.startswith("bin not seen: using its configured pose (0.450, 0.420)") for w in result.warnings)
    assert [o.label for o in result.objects] == ["red cube"]


@pytest.mark.parametrize(("yaw_deg", "size", "prior_deg", "expected_deg", "expected_size"), [
    (80.0, (0.3, 0.2), 0.0, -10.0, (0.2, 0.3)),
    (-50.0, (0.3, 0.2), 0.0, 40.0, (0.2, 0.3)),
    (100.0, (0.3, 0.2), 90.0, 100.0, (0.3, 0.2)),
    (44.0, (0.3, 0.2), 0.0, 44.0, (0.3, 0.2)),
    (181.0, (0.3, 0.2), 0.0, 1.0, (0.3, 0.2)),
])
def test_rectangle_yaw_is_normalised_to_the_prior(yaw_deg, size, prior_deg, expected_deg, expected_size):
    yaw, sides = normalise_rectangle_yaw(math.radians(yaw_deg), size, math.radians(prior_deg))
    assert math.degrees(yaw) == pytest.approx(expected_deg, abs=1e-9)
    assert sides == expected_size


def test_bin_pose_error_is_modulo_the_rectangle_s_quarter_turn():
    a = BinEstimate((0.0, 0.0), math.radians(89.0), (0.3, 0.2), 0.06, 0.01, "perceived", 1.0)
    b = dataclasses.replace(a, center=(0.03, 0.04), yaw=0.0)
    d, dyaw = bin_pose_error(a, b)
    assert d == pytest.approx(0.05) and math.degrees(dyaw) == pytest.approx(1.0)
    assert a.outer_size == pytest.approx((0.32, 0.22))


def wall_points(cx, cy, yaw, ix, iy, walls=(True, True, True, True), height=0.06, t=0.01, step=0.004):
    """(N, 3) points on the tops and outer faces of a bin's walls (+x, -x, +y, -y in its frame)."""
    pts = []
    for k, (axis, sign) in enumerate(((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0))):
        if not walls[k]:
            continue
        half_in, half_along = (ix, iy)[axis] / 2, (ix, iy)[1 - axis] / 2 + t
        for a in np.arange(-half_along, half_along, step):
            for across in (*np.arange(half_in, half_in + t, 0.002), half_in + t):
                for z in np.arange(0.015, height, step) if across == half_in + t else (height,):
                    u, v = (sign * across, a) if axis == 0 else (a, sign * across)
                    c, s = math.cos(yaw), math.sin(yaw)
                    pts.append((cx + c * u - s * v, cy + s * u + c * v, z))
    return np.array(pts)


@pytest.mark.parametrize("yaw_deg", [0.0, 90.0, -90.0, 180.0])
def test_a_wall_not_seen_is_named_in_the_prior_s_frame_and_its_side_is_a_lower_bound(yaw_deg):
    """The same tray described at yaw 0 and turned by quarter turns: the missing wall is the
    +y wall of the prior's frame whichever way the fit describes the rectangle. The camera's
    picture ends where the seen points end (in_view: nothing beyond), so that side's size is
    what is seen; were the wall only hidden in the picture, it would be the prior's."""
    prior = bin_prior((0.45, 0.42), 0.0, (0.38, 0.22), 0.06, 0.01)
    yaw = math.radians(yaw_deg)
    # walls in the tray's own frame turned by yaw: which one is the prior frame's +y wall
    c = round(yaw_deg / 90.0) % 4
    missing = {0: 2, 1: 0, 2: 3, 3: 1}[c]  # the prior frame's +y wall, indexed in the turned frame
    walls = tuple(k != missing for k in range(4))
    sides = (0.36, 0.20) if c % 2 == 0 else (0.20, 0.36)
    pts = wall_points(0.45, 0.42, yaw, *sides, walls=walls)
    beyond_picture = lambda p: np.zeros(len(p), dtype=bool)  # noqa: E731
    est = fit_bin(pts, prior, min_side=0.08, max_side=0.6, max_wall_height=0.15, in_view=beyond_picture)
    assert est is not None
    assert est.walls_seen == (True, True, False, True)
    assert est.inner_size[0] == pytest.approx(0.36, abs=0.006) and est.inner_size[1] < 0.20
    truth = BinEstimate((0.45, 0.42), 0.0, (0.36, 0.20), 0.06, 0.01, "truth", 1.0)
    shift, size = est.face_offsets(truth)
    assert shift < 0.004 and size < 0.004  # the seen walls where they stand; the seen side's length
    hidden = fit_bin(pts, prior, min_side=0.08, max_side=0.6, max_wall_height=0.15,
                     in_view=lambda p: np.ones(len(p), dtype=bool))
    assert hidden.inner_size[1] == pytest.approx(0.20, abs=0.006)  # in the picture, only hidden: the prior's


def test_a_bin_full_of_large_objects_is_still_the_bin_seen_before():
    """Four 8 cm objects, taller than its rim, fill the tray: they hide its far walls and
    pull a fit of this frame alone 1.5 cm off. Its near walls are still where the last frame
    saw them, so it is that bin, and what stands in it is in it, not on the table."""
    K, T = camera()
    tray = bin_solids(0.45, 0.42, 0.0, 0.36, 0.20)
    inside = [Solid("box", (0.315, 0.42), (0.08, 0.16, 0.08), 0.0, RGB["red"], bottom=0.005),
              Solid("box", (0.405, 0.42), (0.08, 0.16, 0.07), 0.0, RGB["blue"], bottom=0.005),
              Solid("box", (0.495, 0.42), (0.08, 0.16, 0.08), 0.0, RGB["yellow"], bottom=0.005),
              Solid("cylinder", (0.585, 0.42), (0.08, 0.08, 0.08), 0.0, RGB["green"], bottom=0.005)]
    core = Perception()
    empty = core.process(*render([*CUBES, *tray], K, T, width=W, height=H), K, T, 0.0)
    assert empty.bin.source == "perceived"
    frame_full = render([*CUBES, *tray, *inside], K, T, width=W, height=H)
    full = core.process(*frame_full, K, T, 0.1)
    assert full.bin is not None and full.bin.source == "perceived", full.warnings
    assert full.bin.center == pytest.approx((0.45, 0.42), abs=0.004)
    assert full.bin_contents and len(full.objects) == len(CUBES)
    alone = Perception().process(*frame_full, K, T, 0.0)  # without the earlier frame (what this fixes)
    assert math.hypot(alone.bin.center[0] - 0.45, alone.bin.center[1] - 0.42) > 0.01
    moved = core.process(*render([*CUBES, *bin_solids(0.45, -0.40, 0.0, 0.36, 0.20)], K, T, width=W, height=H),
                         K, T, 0.2)
    assert moved.bin.center == pytest.approx((0.45, -0.40), abs=0.004)  # a bin elsewhere is found anew


# -- the camera bump, with a bin that may have moved ----------------------------------------

def bumped(T: np.ndarray, shift=(0.0, 0.0), yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """T turned about its optical x axis by pitch_deg and about the vertical through the
    optical centre by yaw_deg, then moved by shift in x, y."""
    T = T.copy()
    T[:3, :3] = axangle2mat([0, 0, 1], math.radians(yaw_deg)) @ T[:3, :3] @ axangle2mat([1, 0, 0],
                                                                                       math.radians(pitch_deg))
    T[:2, 3] += shift
    return T


CUBES = [Solid("box", (0.55, -0.1), (0.04, 0.04, 0.04), 0.2, RGB["red"]),
         Solid("box", (0.40, 0.15), (0.05, 0.05, 0.05), -0.3, RGB["green"])]


def test_a_bin_where_configured_corrects_the_bumped_camera_s_x_y_yaw():
    _, T = camera()
    result = process([*CUBES, *bin_solids(0.45, 0.42, 0.0, 0.36, 0.20)],
                     T_true=bumped(T, (0.012, -0.009), 1.5, pitch_deg=1.0))
    corr = result.camera_correction
    assert corr.registered and corr.x_error == pytest.approx(-0.012, abs=0.002)
    assert result.bin.source == "perceived"
    truth = BinEstimate((0.45, 0.42), 0.0, (0.36, 0.20), 0.06, 0.01, "truth", 1.0)
    assert result.bin.face_offsets(truth)[0] < 0.004  # every wall seen is where it stands
    for cube in CUBES:
        assert min(np.linalg.norm(o.position - cube.position) for o in result.objects) < 0.003


def test_a_moved_bin_is_not_taken_for_a_bumped_camera():
    result = process([*CUBES, *bin_solids(0.45, 0.30, 0.0, 0.36, 0.20)], columns=[ROBOT])
    assert not result.camera_correction.registered  # 12 cm: more than a bump explains (bin_bump_max_shift)
    assert result.bin.center == pytest.approx((0.45, 0.30), abs=0.004)
    for cube in CUBES:
        assert min(np.linalg.norm(o.position - cube.position) for o in result.objects) < 0.003


def test_a_bin_nudged_within_a_bump_s_reach_is_a_moved_bin_when_the_table_shows_no_bump():
    """3 cm is within bin_bump_max_shift, but the table plane is where the calibration says:
    the bin moved, the camera did not; objects stay where they are."""
    result = process([*CUBES, *bin_solids(0.45, 0.39, 0.0, 0.36, 0.20)], columns=[ROBOT])
    assert not result.camera_correction.registered and not result.camera_correction.bumped
    assert result.bin.center == pytest.approx((0.45, 0.39), abs=0.004)
    assert any("bin seen at" in w for w in result.warnings), result.warnings
    for cube in CUBES:
        assert min(np.linalg.norm(o.position - cube.position) for o in result.objects) < 0.003


def test_a_pure_sideways_turn_of_the_camera_is_not_corrected_from_the_bin():
    """The other side of that policy, stated: a bump that neither tilts nor lifts the camera
    looks like a moved bin and is taken for one (objects then shift with the camera)."""
    _, T = camera()
    result = process([*CUBES, *bin_solids(0.45, 0.42, 0.0, 0.36, 0.20)], T_true=bumped(T, (0.012, -0.009), 1.5))
    assert not result.camera_correction.registered
    assert any("bin seen at" in w for w in result.warnings), result.warnings


def test_a_bin_partly_out_of_view_is_no_larger_than_what_is_seen():
    """The far wall out of the image: the size along it is what the seen walls span, never the
    configured size (a smaller tray than configured must not be filled in from the prior)."""
    for cy in (0.42, 0.46, 0.50, 0.54):
        solids = [*CUBES, *bin_solids(0.45, cy, 0.0, 0.25, 0.15)]
        result = process(solids, columns=[ROBOT])
        if result.bin is not None and result.bin.source == "perceived" and not all(result.bin.walls_seen):
            break
    else:
        pytest.fail("no bin position tried leaves a wall out of the image")
    b = result.bin
    assert b.inner_size[0] == pytest.approx(0.25, abs=0.006) and b.inner_size[1] <= 0.15 + 0.006
    # Every point of the perceived inside is inside the real tray.
    for u in (-1, 1):
        for v in (-1, 1):
            x = b.center[0] + u * b.inner_size[0] / 2
            y = b.center[1] + v * b.inner_size[1] / 2
            assert abs(x - 0.45) <= 0.125 + 0.004 and abs(y - cy) <= 0.075 + 0.004, (x, y)


# -- the table's paint and the light ------------------------------------------------------

PRIOR = np.array([0.55, 0.45, 0.35])


def test_the_configured_table_under_a_cast_keeps_the_prior_white_balance():
    cast = np.array([1.1, 1.0, 0.88]) * 0.8
    wb = estimate_white_balance(PRIOR * cast, PRIOR, np.array([0.9, 0.9, 0.9]) * cast, max_cast=0.3,
                                tolerance=0.04, max_brightness_gain=2.5)
    assert wb.reference == "table_prior" and wb.warning == ""
    np.testing.assert_allclose(wb.gains * cast, 1.0, rtol=1e-9)


def test_a_white_table_is_told_from_a_tinted_light_by_the_robot():
    cast = np.array([1.1, 1.0, 0.85])
    wb = estimate_white_balance(np.array([0.9, 0.9, 0.9]) * cast, PRIOR, np.array([0.8, 0.8, 0.8]) * cast,
                                max_cast=0.3, tolerance=0.04, max_brightness_gain=2.5)
    assert wb.reference == "robot" and "not table_rgb" in wb.warning
    np.testing.assert_allclose(wb.gains * cast, np.mean(cast), rtol=1e-9)  # the tint undone, brightness kept
    np.testing.assert_allclose(wb.table_rgb, 0.9 * np.mean(cast), rtol=1e-9)  # the paint: neutral


def test_without_the_robot_a_grey_table_is_taken_as_neutral():
    wb = estimate_white_balance(np.array([0.05, 0.05, 0.06]), PRIOR, None, max_cast=0.3, tolerance=0.04,
                                max_brightness_gain=2.5)
    assert wb.reference == "table_neutral"
    np.testing.assert_allclose(wb.gains * [0.05, 0.05, 0.06], np.mean([0.05, 0.05, 0.06]), rtol=1e-9)


@pytest.mark.parametrize(("table", "cube"), [((0.95, 0.95, 0.95), "white"), ((0.06, 0.06, 0.06), "blue"),
                                             ((0.06, 0.06, 0.06), "black"), ((0.62, 0.42, 0.22), "white"),
                                             ((0.5, 0.5, 0.5), "orange")])
def test_cubes_are_named_on_tables_of_any_paint(table, cube):
    """Geometry first: a cube of the table's own colour is still found; white balance from the robot."""
    solid = Solid("box", (0.5, 0.05), (0.04, 0.04, 0.04), 0.3, RGB[cube])
    result = process([solid], table_rgb=table, columns=[ROBOT])
    assert [o.label for o in result.objects] == [f"{cube} cube"]
    assert result.white_balance_reference == "robot"
    np.testing.assert_allclose(result.table_rgb, np.asarray(table) * 0.93, atol=0.03)  # lit top: 0.6 + 0.35 cos


def test_new_config_fields_are_checked():
    with pytest.raises(ValueError, match="bin_max_side"):
        check_config(PerceptionConfig(bin_min_side=0.5, bin_max_side=0.4))
    with pytest.raises(ValueError, match="robot_base_footprint"):
        check_config(PerceptionConfig(robot_base_footprint=(0.1, -0.1, 0.0, 0.1)))
    with pytest.raises(ValueError, match="max_brightness_gain"):
        check_config(PerceptionConfig(max_brightness_gain=0.9))
    with pytest.raises(ValueError, match="bin_bump_max_shift"):
        check_config(PerceptionConfig(bin_bump_max_shift=-0.01))


# -- the bin remembered across frames (track_bin) ------------------------------------------

def _est(cx, cy, ix, iy, walls=(True, True, True, True)):
    return BinEstimate((cx, cy), 0.0, (ix, iy), 0.08, 0.01, "perceived", 1.0, walls)


def test_a_fit_whose_walls_reach_beyond_a_partial_bin_seen_before_replaces_it():
    """Measured in a campaign (world_bin_resized): with the cube just released in the bin and
    the hand over it, one frame fitted a 12 x 11 cm 'bin' with four walls inside the real
    15 x 25 cm one, whose far wall is out of the picture. A fit with four walls wins, so it
    was remembered; the real one, found in the next frames with three walls, was then
    refused because the part was confirmed by the walls it shares with the real bin, in
    every later frame: every later episode failed 'the bin has no free spot'. The real fit's
    side walls stand beyond the part: it replaces it."""
    from perception.core.bin_detection import track_bin

    real = _est(0.55, 0.40, 0.15, 0.25, walls=(True, True, False, True))
    bogus = _est(0.555, 0.338, 0.123, 0.111)
    pts = wall_points(0.55, 0.40, 0.0, 0.15, 0.25, walls=(True, True, False, True), height=0.08)
    assert track_bin(bogus, real, pts, 0.005) == (bogus, bogus)  # four walls: for one frame
    assert track_bin(real, bogus, pts, 0.005) == (real, real)
    # The same with the part's walls fitted thick (a hand over the rim): its outer faces
    # reach the real ones, its inner faces do not.
    thick = dataclasses.replace(bogus, inner_size=(0.123, 0.111), wall_thickness=0.02)
    assert track_bin(real, thick, pts, 0.005) == (real, real)


def test_a_larger_fit_sized_from_the_prior_does_not_replace_a_bin_seen_whole():
    """A fit with a wall hidden takes that side from the prior (here 36 cm, the real bin
    25 cm): no points stand beyond the bin seen before, so it stays."""
    from perception.core.bin_detection import track_bin

    real = _est(0.55, 0.40, 0.15, 0.25)
    guessed = _est(0.55, 0.455, 0.15, 0.36, walls=(True, True, False, True))
    pts = wall_points(0.55, 0.40, 0.0, 0.15, 0.25, walls=(True, True, False, True), height=0.08)
    seen, remembered = track_bin(guessed, real, pts, 0.005)
    assert seen.center == real.center and remembered is real
    # No bin remembered: the fit is taken; nothing found and nothing confirmed: none.
    assert track_bin(guessed, None, pts, 0.005) == (guessed, guessed)
    assert track_bin(None, real, pts[:10], 0.005) == (None, real)
    # A bin moved away leaves no points on its old walls: the new fit wins.
    moved = wall_points(0.30, -0.40, 0.0, 0.15, 0.25, height=0.08)
    assert track_bin(_est(0.30, -0.40, 0.15, 0.25), real, moved, 0.005)[1].center == (0.30, -0.40)


def test_fits_within_a_centimetre_of_each_other_follow_the_old_rule_a_full_view_wins():
    """Measured (world_bin_rotated): a fit 0.6-0.8 cm smaller and 1.1 cm off replaced the bin
    while the hand hid walls; the next full views (all four walls) must replace it again,
    not be confirmed away by it (its walls lie within the confirming band of the real ones)."""
    from perception.core.bin_detection import track_bin

    yaw = math.radians(-30.0)
    real = dataclasses.replace(_est(0.389, 0.358, 0.202, 0.313), yaw=yaw)
    off = dataclasses.replace(_est(0.386, 0.347, 0.194, 0.307), yaw=yaw)
    pts = wall_points(0.389, 0.358, yaw, 0.202, 0.313, height=0.08)
    assert track_bin(real, off, pts, 0.005) == (real, real)
    near = dataclasses.replace(real, center=(0.392, 0.360))  # 4 mm off: the same bin, a full view
    assert track_bin(near, real, pts, 0.005) == (near, near)


def test_a_fit_with_a_wall_out_of_sight_whose_seen_walls_lie_beyond_a_smaller_remembered_bin_replaces_it():
    """A fit 2.3 x 0.7 cm small, 8 mm off (seen in world_bin_moved after a place) remembered;
    the real one then comes with a wall out of sight (three walls seen), its walls only 1-2
    cm beyond the remembered ones (inside the confirming band): its seen faces decide."""
    from perception.core.bin_detection import track_bin

    off = _est(0.452, -0.410, 0.337, 0.193)
    real = _est(0.451, -0.418, 0.360, 0.200, walls=(True, True, True, False))
    pts = wall_points(0.451, -0.418, 0.0, 0.360, 0.200, walls=(True, True, True, False), height=0.08)
    assert track_bin(real, off, pts, 0.005) == (real, real)
