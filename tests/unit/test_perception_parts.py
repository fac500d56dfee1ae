"""Parts of the perception core and the node's synchronizer, each on tiny inline data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from perception.core import (
    PALETTE,
    Detection,
    PerceptionConfig,
    Tracker,
    camera_correction,
    classify_colours,
    expected_table_plane,
    fit_plane_ransac,
    palette_model,
    white_balance_gains,
)
from perception.core.arrays import pixel_boxes
from perception.core.fitting import _circle_fit, _rect_residuals, normalise_box_yaw
from perception.core.landmarks import register_bin, visible_faces
from perception.sync import StampOrder, StampSync

CFG = PerceptionConfig()
MODEL = palette_model(PALETTE, CFG.min_chroma, CFG.min_saturation)
NAMES = [n for n, _ in PALETTE]


def name_of(rgb, strict: bool = True) -> str:
    k, _ = classify_colours(np.atleast_2d(rgb), MODEL, min_chroma=CFG.min_chroma, min_saturation=CFG.min_saturation,
                            max_hue_error_deg=CFG.max_hue_error_deg if strict else None,
                            max_value_error=CFG.max_value_error if strict else None)
    return NAMES[k[0]] if k[0] >= 0 else "unknown"


@pytest.mark.parametrize("shade", [1.0, 0.7])
def test_every_palette_colour_is_named_as_itself_lit_or_in_shade(shade):
    for name, rgb in PALETTE:
        assert name_of(np.asarray(rgb) * shade) == name, (name, shade)


def test_colours_far_from_the_palette_are_unknown():
    assert name_of([0.5, 0.5, 0.5]) == "unknown"  # grey: between black and white
    assert name_of([0.9, 0.1, 0.5]) == "unknown"  # pink: 33 deg from red and 50 from purple
    assert name_of([0.5, 0.5, 0.5], strict=False) in ("white", "black")  # per-pixel classes never unknown


def test_white_balance_undoes_brightness_and_cast():
    table = np.array([0.55, 0.45, 0.35])
    cast = np.array([1.15, 1.0, 0.85]) * 0.7
    gains, warning = white_balance_gains(table * cast, table, max_cast=0.3)
    assert warning == ""
    np.testing.assert_allclose(gains * cast, 1.0, rtol=1e-9)
    gains, warning = white_balance_gains(np.array([0.9, 0.9, 0.9]) * 0.5, table * 0.5 / 0.5, max_cast=0.1)
    assert "only brightness is normalised" in warning and np.ptp(gains) == 0.0


def test_ransac_finds_the_table_among_objects_and_noise():
    rng = np.random.default_rng(3)
    _, T = PerceptionConfig().T_base_optical(), PerceptionConfig().T_base_optical()
    xy = rng.uniform([0.1, -0.5], [0.9, 0.5], size=(3000, 2))
    table = np.column_stack([xy, rng.normal(0.0, 0.001, 3000)])
    boxes = np.column_stack([rng.uniform(0.4, 0.5, (800, 2)), rng.uniform(0.01, 0.06, 800)])
    pts_base = np.concatenate([table, boxes])
    pts_opt = (pts_base - T[:3, 3]) @ T[:3, :3]
    prior = expected_table_plane(T)
    fit = fit_plane_ransac(pts_opt, np.random.default_rng(0), tolerance=0.004, iterations=40, prior=prior,
                           max_tilt=math.radians(10), max_offset=0.08)
    np.testing.assert_allclose(fit.plane, prior, atol=2e-4)
    assert fit.inliers[:3000].mean() > 0.99 and fit.inliers[3000:].mean() < 0.2
    assert fit.noise == pytest.approx(0.001, rel=0.15)


def test_camera_correction_of_a_lifted_and_pitched_camera():
    T = PerceptionConfig().T_base_optical()
    true = T.copy()
    true[:3, :3] = true[:3, :3] @ axangle2mat([1, 0, 0], math.radians(-1.5))  # optical x is horizontal: pitch
    true[2, 3] += 0.03
    plane_seen = expected_table_plane(true)
    corr = camera_correction(T, plane_seen, height_threshold=0.005, angle_threshold=math.radians(0.5), applied=True)
    assert corr.height_error == pytest.approx(-0.03, abs=1e-9)
    assert math.degrees(corr.pitch_error) == pytest.approx(-1.5, abs=1e-6)  # configured minus observed
    assert abs(corr.roll_error) < 1e-9 and corr.bumped
    np.testing.assert_allclose(corr.T_corrected, true, atol=1e-9)


def test_bin_registration_recovers_a_planar_offset():
    centre, size, wall = np.array([0.45, 0.42]), (0.22, 0.22), 0.01
    camera = np.array([1.05, 0.0])
    rng = np.random.default_rng(1)
    pts = []
    for point, normal, direction, half in visible_faces(centre, 0.0, size, wall, camera):
        t = rng.uniform(-half, half, 150)
        pts.append(point + t[:, None] * direction + rng.normal(0, 0.0005, (150, 1)) * normal)
    pts.append(rng.uniform(centre - 0.08, centre + 0.08, (60, 2)))  # an object in the bin: outliers
    true = np.concatenate(pts)
    theta, shift = math.radians(1.2), np.array([-0.011, 0.007])
    R = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    seen = (true - centre) @ R + centre - shift @ R  # the inverse of the fix applied to the truth
    reg = register_bin(seen, centre, 0.0, size, wall, camera)
    assert reg is not None and reg.lines == 4
    fixed = seen @ reg.T_fix[:2, :2].T + reg.T_fix[:2, 3]
    assert np.median(np.linalg.norm(fixed[:600] - true[:600], axis=1)) < 0.0005
    assert math.degrees(reg.yaw) == pytest.approx(1.2, abs=0.05)
    assert register_bin(seen[:100], centre, 0.0, size, wall, camera) is None  # too little of the walls


@pytest.mark.parametrize(("bin_yaw", "size"), [(0.5, (0.38, 0.22)), (-2.0, (0.30, 0.24))])
def test_bin_registration_of_a_turned_oblong_bin(bin_yaw, size):
    centre, wall, camera = np.array([0.45, 0.42]), 0.01, np.array([1.05, 0.0])
    rng = np.random.default_rng(2)
    pts = []
    for point, normal, direction, half in visible_faces(centre, bin_yaw, size, wall, camera):
        t = rng.uniform(-half, half, 150)
        pts.append(point + t[:, None] * direction + rng.normal(0, 0.0005, (150, 1)) * normal)
    true = np.concatenate(pts)
    theta, shift = math.radians(-0.8), np.array([0.006, -0.009])
    R = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    seen = (true - centre) @ R + centre - shift @ R
    reg = register_bin(seen, centre, bin_yaw, size, wall, camera)
    assert reg is not None and reg.lines == 4 and reg.inliers == len(true)
    fixed = seen @ reg.T_fix[:2, :2].T + reg.T_fix[:2, 3]
    assert np.median(np.linalg.norm(fixed - true, axis=1)) < 0.0005
    assert math.degrees(reg.yaw) == pytest.approx(-0.8, abs=0.05)
    assert reg.residual == pytest.approx(0.0005, rel=0.2)  # the faces' noise


def test_rect_residuals_match_a_direct_computation():
    rng = np.random.default_rng(3)
    outline, extent = rng.normal(0, 0.02, (40, 2)), rng.normal(0, 0.02, (12, 2))
    angles = np.radians([0.0, 10.0, 33.0, 89.0])
    res, lo, hi = _rect_residuals(outline, extent, angles)
    for k, a in enumerate(angles):
        u_axis, v_axis = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        eu, ev, ou, ov = extent @ u_axis, extent @ v_axis, outline @ u_axis, outline @ v_axis
        d = np.min(np.abs([ou - eu.min(), ou - eu.max(), ov - ev.min(), ov - ev.max()]), axis=0)
        assert res[k] == pytest.approx(d.mean(), abs=1e-12)
        np.testing.assert_allclose([lo[k], hi[k], lo[4 + k], hi[4 + k]], [eu.min(), eu.max(), ev.min(), ev.max()],
                                   atol=1e-12)


def test_circle_fit_of_an_arc():
    a = np.linspace(0.3, 2.5, 60)
    xy = np.column_stack([0.41 + 0.025 * np.cos(a), -0.12 + 0.025 * np.sin(a)])
    centre, radius = _circle_fit(xy)
    np.testing.assert_allclose(centre, [0.41, -0.12], atol=1e-9)
    assert radius == pytest.approx(0.025, abs=1e-9)
    centre, radius = _circle_fit(np.column_stack([np.linspace(0, 1, 5), np.zeros(5)]))
    assert radius == 0.0 and centre.tolist() == pytest.approx([0.5, 0.0])  # collinear: no circle


def test_pixel_boxes_of_consecutive_runs():
    v, u = np.array([5, 3, 9, 2, 2, 7]), np.array([1, 4, 0, 8, 6, 6])
    assert pixel_boxes(v, u, np.array([0, 3, 5])) == [(3, 9, 0, 4), (2, 2, 6, 8), (7, 7, 6, 6)]
    assert pixel_boxes(v, u, np.zeros(0, np.intp)) == []


@pytest.mark.parametrize(("yaw", "sx", "sy", "expected"), [
    (0.1, 0.05, 0.05, (0.1, 0.05, 0.05)),
    (0.1 + math.pi / 2, 0.05, 0.052, (0.1, 0.052, 0.05)),       # near-square: yaw folded into [-45, 45) deg
    (1.2, 0.03, 0.06, (1.2 + math.pi / 2 - math.pi, 0.06, 0.03)),  # oblong: x is the long side
    (-2.0, 0.07, 0.03, (-2.0 + math.pi, 0.07, 0.03)),
])
def test_box_yaw_is_canonical(yaw, sx, sy, expected):
    np.testing.assert_allclose(normalise_box_yaw(yaw, sx, sy), expected, atol=1e-12)


def det(x, y, colour="red", shape="box", size=0.04):
    return Detection(np.array([x, y, size / 2]), colour, shape, np.full(3, size))


def test_tracker_gates_reidentifies_and_never_reuses_ids():
    tr = Tracker(gate=0.05, memory=10.0)
    assert tr.update([det(0.4, 0.0), det(0.5, 0.1, "blue")], 0.0) == ["obj_1", "obj_2"]
    # Swapped order, small moves: same ids; a colour change costs more than a short move.
    assert tr.update([det(0.51, 0.1, "blue"), det(0.41, 0.0)], 0.1) == ["obj_2", "obj_1"]
    # Red vanishes; a red box far away is the same red box put down elsewhere.
    assert tr.update([det(0.51, 0.1, "blue")], 0.2) == ["obj_2"]
    assert tr.update([det(0.51, 0.1, "blue"), det(0.7, -0.3)], 0.3) == ["obj_2", "obj_1"]
    # A different size is a different object.
    assert tr.update([det(0.51, 0.1, "blue"), det(0.7, -0.3), det(0.3, 0.3, size=0.07)], 0.4) == \
        ["obj_2", "obj_1", "obj_3"]
    # Kept for `memory` seconds, then forgotten; ids keep counting.
    assert tr.update([det(0.7, -0.3)], 5.0) == ["obj_1"]
    assert tr.update([det(0.3, 0.3, size=0.07)], 40.0) == ["obj_4"]
    tr.reset()
    assert tr.update([det(0.4, 0.0)], 41.0) == ["obj_5"]


def test_sync_pairs_by_stamp_and_waits_for_the_camera_info():
    s = StampSync(queue_size=3)
    assert s.add("color", 100, "c100") == []
    assert s.add("depth", 100, "d100") == []  # complete pair, but its camera_info may still come
    out = s.add("info", 100, "i100")
    assert [(f.stamp_ns, f.color, f.depth, f.info, f.info_matched) for f in out] == [(100, "c100", "d100", "i100",
                                                                                       True)]
    # Depth first, then colour; camera_info of another stamp: the pair goes with the latest one
    # once a newer pair is complete.
    assert s.add("depth", 200, "d200") == [] and s.add("color", 200, "c200") == []
    assert s.add("color", 300, "c300") == []
    out = s.add("depth", 300, "d300")
    assert [(f.stamp_ns, f.info, f.info_matched) for f in out] == [(200, "i100", False)]
    assert [(f.stamp_ns, f.info_matched) for f in s.add("info", 300, "i300")] == [(300, True)]


def test_sync_drops_unpaired_images_beyond_the_queue():
    s = StampSync(queue_size=2)
    for t in (1, 2, 3, 4):
        assert s.add("color", t, f"c{t}") == []
    assert s.dropped == {"color": 2, "depth": 0}
    assert s.add("depth", 1, "late") == []  # its colour image was dropped
    s.add("info", 4, "i4")
    assert [f.stamp_ns for f in s.add("depth", 4, "d4")] == [4]
    with pytest.raises(ValueError, match="kind must be one of color, depth, info, got 'ir'"):
        s.add("ir", 5, None)


def test_stamp_order_skips_late_pairs_and_starts_over_when_time_jumps_back():
    s = 1_000_000_000
    order = StampOrder(jump_back_ns=s)
    assert order.check(10 * s) == "next"
    order.processed(10 * s)
    order.processed(int(10.1 * s))
    assert order.check(int(10.1 * s)) == "old"  # repeated
    assert order.check(int(9.5 * s)) == "old"  # late, within the threshold: out of order
    # One pair stamped 9.6 s ahead, then the camera's next one: between the last two, so the
    # one ahead was the odd one out, whatever its skew: start over from the next pair.
    order.processed(int(19.7 * s))
    assert order.check(int(10.2 * s)) == "jump"
    order.jumped()
    assert order.jumps == 1 and order.last is None and order.check(int(10.2 * s)) == "next"
    order.processed(int(10.2 * s))
    order.processed(int(10.3 * s))
    # A clock restart (a sim reset, a bag played again): older by more than the threshold.
    assert order.check(int(0.1 * s)) == "jump"
    with pytest.raises(ValueError, match="jump_back_ns must be >= 0"):
        StampOrder(-1)


def test_sync_uses_the_camera_info_that_arrived_last():
    s = StampSync(queue_size=3)
    s.add("info", 9_000, "i_ahead")  # stamped ahead: it must not hold newer ones back
    s.add("info", 150, "i150")
    s.add("color", 200, "c200")
    s.add("depth", 200, "d200")
    out = s.add("depth", 300, "d300") + s.add("color", 300, "c300")
    assert [(f.stamp_ns, f.info, f.info_matched) for f in out] == [(200, "i150", False)]


def test_tracker_rewind_keeps_tracks_and_ids():
    tr = Tracker(gate=0.03, memory=30.0)
    assert tr.update([det(0.4, 0.0)], 10.0) == ["obj_1"]
    assert tr.update([det(0.4, 0.0)], 19.6) == ["obj_1"]  # a frame stamped ahead
    tr.rewind(10.1)
    assert tr.tracks["obj_1"].last_seen == 10.1
    assert tr.update([det(0.4, 0.0)], 10.1) == ["obj_1"]
    assert tr.update([], 11.2) == [] and "obj_1" in tr.tracks  # it is forgotten by its memory, not by the glitch
