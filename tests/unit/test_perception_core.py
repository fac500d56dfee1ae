"""The perception core on synthetic RGB-D frames with known answers (perception.core.synthetic)."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
from transforms3d.axangles import axangle2mat

from perception.core import PALETTE, Perception, PerceptionConfig, check_config
from perception.core.synthetic import Solid, default_camera, render

RGB = dict(PALETTE)
W, H = 320, 240  # half resolution keeps the renders fast; one test uses 640 x 480


def camera(width: int = W) -> tuple[np.ndarray, np.ndarray]:
    K, T = default_camera()
    s = width / 640.0
    K = K.copy()
    K[0, 0] *= s
    K[1, 1] *= s
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * s - 0.5, (K[1, 2] + 0.5) * s - 0.5
    return K, T


def frame(solids, T=None, width: int = W, **kw):
    K, T0 = camera(width)
    rgb, depth = render(solids, K, T0 if T is None else T, width=width, height=width * 3 // 4, **kw)
    return rgb, depth, K, T0


def bin_solids(cx: float = 0.45, cy: float = 0.42, ix: float = 0.36, iy: float = 0.20) -> list[Solid]:
    """The default bin: a 5 mm floor and four 6 cm walls, 1 cm thick, inside ix x iy."""
    grey = (0.35, 0.35, 0.38)
    ox, oy = ix + 0.02, iy + 0.02
    return [Solid("box", (cx, cy), (ix, iy, 0.005), 0.0, grey),
            Solid("box", (cx + (ix + 0.01) / 2, cy), (0.01, oy, 0.06), 0.0, grey),
            Solid("box", (cx - (ix + 0.01) / 2, cy), (0.01, oy, 0.06), 0.0, grey),
            Solid("box", (cx, cy + (iy + 0.01) / 2), (ox, 0.01, 0.06), 0.0, grey),
            Solid("box", (cx, cy - (iy + 0.01) / 2), (ox, 0.01, 0.06), 0.0, grey)]


def match(objects, solids, tol: float = 0.02):
    """Pairs (estimate, solid) by nearest xy; every solid must have one estimate within tol."""
    pairs = []
    for s in solids:
        d = [np.hypot(*(o.position[:2] - s.position[:2])) for o in objects]
        assert d and min(d) < tol, f"nothing detected near {s}; got {[(o.label, o.position) for o in objects]}"
        pairs.append((objects[int(np.argmin(d))], s))
    return pairs


def yaw_error_deg(est, solid: Solid) -> float:
    sx, sy = solid.size[0], solid.size[1]
    period = math.pi / 2 if abs(sx - sy) <= 0.15 * max(sx, sy) else math.pi
    true = solid.yaw if sx >= sy or period < math.pi else solid.yaw + math.pi / 2
    d = (est.yaw - true) % period
    return math.degrees(min(d, period - d))


SCENE = [Solid("box", (0.45, -0.15), (0.04, 0.06, 0.03), 0.5, RGB["red"]),
         Solid("cylinder", (0.55, 0.10), (0.04, 0.04, 0.07), 0.0, RGB["blue"]),
         Solid("box", (0.35, 0.05), (0.05, 0.05, 0.05), -0.35, RGB["green"]),
         Solid("box", (0.62, -0.05), (0.025, 0.025, 0.025), 0.2, RGB["yellow"]),
         Solid("cylinder", (0.40, 0.25), (0.03, 0.03, 0.05), 0.0, RGB["purple"])]
LABELS = ["red box", "blue cylinder", "green cube", "yellow cube", "purple cylinder"]


@pytest.fixture(scope="module")
def full_res_result():
    rgb, depth, K, T = frame(SCENE, width=640)
    return Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 1.0, with_labels=True)


def test_objects_have_the_right_pose_size_colour_and_shape(full_res_result):
    result = full_res_result
    assert len(result.objects) == len(SCENE), [o.label for o in result.objects]
    for (est, solid), label in zip(match(result.objects, SCENE), LABELS, strict=True):
        assert est.label == label
        assert est.colour_name == label.split()[0]
        assert est.shape == solid.shape
        np.testing.assert_allclose(est.position, solid.position, atol=0.002)
        np.testing.assert_allclose(sorted(est.size[:2]), sorted(solid.size[:2]), atol=0.002)
        assert est.size[2] == pytest.approx(solid.size[2], abs=0.0015)
        if solid.shape == "box":
            assert yaw_error_deg(est, solid) < 1.5
            if abs(solid.size[0] - solid.size[1]) > 0.15 * max(solid.size[:2]):
                assert est.size[0] > est.size[1]  # oblong boxes: x is the long side
        else:
            assert est.yaw == 0.0 and est.size[0] == est.size[1]
        assert 0.8 <= est.confidence <= 1.0
        np.testing.assert_allclose(est.mean_rgb, np.asarray(solid.rgb) * 0.9, atol=0.12)
    assert result.objects[0].id == "obj_1" and len({o.id for o in result.objects}) == len(SCENE)
    np.testing.assert_allclose(result.table_plane, [0, 0, 1, 0], atol=1e-4)
    # This scene has no bin: the configured one is reported as the prior, with a warning.
    assert result.bin.source == "prior" and result.bin.center == (0.45, 0.42)
    assert result.camera_correction.bumped is False and [w for w in result.warnings if "bin not seen" not in w] == []
    assert result.bin_contents == [] and result.white_balance_reference == "table_prior"
    assert set(np.unique(result.label_image)) == set(range(len(SCENE) + 1))


def test_empty_table_gives_no_objects_but_the_table():
    rgb, depth, K, T = frame([])
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    assert result.objects == []
    np.testing.assert_allclose(result.table_plane, [0, 0, 1, 0], atol=1e-4)
    assert abs(result.camera_correction.height_error) < 1e-3


def test_touching_objects_are_split_by_colour():
    # Faces flush, 0.5 mm apart, and a cylinder against the red box: one blob in depth.
    solids = [Solid("box", (0.45, 0.0), (0.05, 0.04, 0.04), 0.0, RGB["red"]),
              Solid("box", (0.45, 0.0455), (0.05, 0.05, 0.03), 0.0, RGB["cyan"]),
              Solid("cylinder", (0.50 + 0.0205, 0.0), (0.04, 0.04, 0.06), 0.0, RGB["orange"])]
    rgb, depth, K, T = frame(solids)
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    assert sorted(o.label for o in result.objects) == ["cyan box", "orange cylinder", "red box"]
    for est, solid in match(result.objects, solids):
        np.testing.assert_allclose(est.position, solid.position, atol=0.004)
        assert est.shape == solid.shape


ALL_COLOURS = [Solid("box" if k % 2 else "cylinder", (0.32 + 0.1 * (k % 4), -0.3 + 0.2 * (k // 4)),
                     (0.04, 0.04, 0.04), 0.3 * k, rgb) for k, (_, rgb) in enumerate(PALETTE)]


@pytest.fixture(scope="module")
def palette_frame():
    return frame(ALL_COLOURS)


def shift_hue(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """As the simulator does it: OpenCV 8-bit HSV, hue in 2-degree steps."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[:, :, 0] = ((hsv[:, :, 0].astype(int) + round(degrees / 2)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


@pytest.mark.parametrize("change", ["none", "dark x0.6", "bright x1.4", "cast", "hue +10", "hue -10", "noise 5"])
def test_colour_names_survive_lighting_changes(palette_frame, change):
    rgb, depth, K, T = palette_frame
    img = rgb.astype(np.float32)
    if change.startswith(("dark", "bright")):
        img *= float(change.split("x")[1])
    elif change == "cast":
        img *= np.array([1.15, 1.0, 0.85], np.float32)
    elif change == "noise 5":
        img += np.random.default_rng(0).normal(0.0, 5.0, img.shape).astype(np.float32)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if change.startswith("hue"):
        img = shift_hue(img, float(change.split()[1]))
    result = Perception(PerceptionConfig(register_bin=False)).process(img, depth, K, T, 0.0)
    names = {s.rgb: n for n, s in zip((n for n, _ in PALETTE), ALL_COLOURS, strict=True)}
    got = {names[s.rgb]: est.colour_name for est, s in match(result.objects, ALL_COLOURS)}
    assert got == {n: n for n in names.values()}


def test_depth_noise_and_dropout_keep_positions_within_4_mm():
    rgb, depth, K, T = frame(SCENE)
    rng = np.random.default_rng(7)
    noisy = depth + rng.normal(0.0, 0.002, depth.shape).astype(np.float32)
    noisy[rng.random(depth.shape) < 0.05] = np.nan
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, noisy, K, T, 0.0)
    assert len(result.objects) == len(SCENE)
    for est, solid in match(result.objects, SCENE):
        assert np.linalg.norm(est.position - solid.position) < 0.004, (est.label, est.position, solid.position)


def bumped(T: np.ndarray, dz: float = 0.0, pitch_deg: float = 0.0, shift=(0.0, 0.0), yaw_deg: float = 0.0):
    """T moved up by dz, turned about its optical x axis by pitch_deg and about the vertical
    through the optical centre by yaw_deg, then moved by shift in x, y."""
    T = T.copy()
    T[:3, :3] = axangle2mat([0, 0, 1], math.radians(yaw_deg)) @ T[:3, :3] @ axangle2mat([1, 0, 0],
                                                                                       math.radians(pitch_deg))
    T[:3, 3] += [shift[0], shift[1], dz]
    return T


def test_bumped_camera_height_and_pitch_are_estimated_and_corrected():
    K, T = camera()
    rgb, depth, _, _ = frame(SCENE, T=bumped(T, dz=0.02, pitch_deg=2.0))
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    corr = result.camera_correction
    assert corr.bumped and corr.applied
    assert corr.height_error == pytest.approx(-0.02, abs=5e-4)  # configured minus observed
    assert math.degrees(corr.tilt) == pytest.approx(2.0, abs=0.05)
    assert math.degrees(abs(corr.pitch_error)) == pytest.approx(2.0, abs=0.05)
    assert abs(corr.roll_error) < math.radians(0.05)
    assert any("camera appears bumped" in w for w in result.warnings)
    for est, solid in match(result.objects, SCENE):
        assert np.linalg.norm(est.position - solid.position) < 0.003
    raw = Perception(PerceptionConfig(register_bin=False, correct_camera_bump=False)).process(rgb, depth, K, T, 0.0)
    assert raw.camera_correction.height_error == pytest.approx(corr.height_error, abs=1e-6)
    errors = [np.linalg.norm(est.position - solid.position) for est, solid in match(raw.objects, SCENE, 0.05)]
    assert max(errors) > 0.01  # the correction is what makes the difference


def test_bin_walls_fix_the_cameras_x_y_and_yaw():
    K, T = camera()
    solids = [*SCENE, *bin_solids()]
    # A bump tilts the camera too (the table plane shows it): only then is the bin a landmark.
    rgb, depth, _, _ = frame(solids, T=bumped(T, pitch_deg=1.0, shift=(0.012, -0.009), yaw_deg=1.5))
    result = Perception().process(rgb, depth, K, T, 0.0)
    corr = result.camera_correction
    assert corr.registered and corr.bumped
    assert corr.x_error == pytest.approx(-0.012, abs=0.002) and corr.y_error == pytest.approx(0.009, abs=0.002)
    assert math.degrees(corr.yaw_error) == pytest.approx(-1.5, abs=0.15)
    assert sorted(o.label for o in result.objects) == sorted(LABELS)  # the bin is not an object
    for est, solid in match(result.objects, SCENE):
        assert np.linalg.norm(est.position - solid.position) < 0.003, est.label
    unregistered = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    errors = [np.linalg.norm(est.position - solid.position) for est, solid in match(unregistered.objects, SCENE, 0.05)]
    assert np.median(errors) > 0.008


def test_objects_in_the_bin_and_the_robot_are_not_reported():
    free = Solid("box", (0.45, -0.2), (0.04, 0.04, 0.04), 0.0, RGB["red"])
    in_bin = Solid("box", (0.45, 0.42), (0.04, 0.04, 0.04), 0.0, RGB["blue"], bottom=0.005)
    held = Solid("box", (0.55, 0.05), (0.04, 0.04, 0.04), 0.0, RGB["green"], bottom=0.0)
    robot_base = Solid("cylinder", (0.0, 0.0), (0.16, 0.16, 0.5), 0.0, (0.95, 0.95, 0.95))
    finger = Solid("box", (0.55, 0.0705), (0.02, 0.001, 0.4), 0.0, (0.95, 0.95, 0.95), bottom=0.02)
    rgb, depth, K, T = frame([free, in_bin, held, *bin_solids()], columns=[robot_base, finger])
    result = Perception().process(rgb, depth, K, T, 0.0)
    assert [o.label for o in result.objects] == ["red cube"]
    np.testing.assert_allclose(result.objects[0].position, free.position, atol=0.003)


def test_a_cube_on_a_cube_stands_on_it():
    lower = Solid("box", (0.45, 0.0), (0.05, 0.05, 0.05), 0.2, RGB["red"])
    upper = Solid("box", (0.45, 0.0), (0.03, 0.03, 0.03), 0.2, RGB["blue"], bottom=0.05)
    rgb, depth, K, T = frame([lower, upper])
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    assert sorted(o.label for o in result.objects) == ["blue cube", "red cube"]
    top = next(o for o in result.objects if o.colour_name == "blue")
    assert top.position[2] == pytest.approx(0.065, abs=0.002) and top.size[2] == pytest.approx(0.03, abs=0.002)
    bottom = next(o for o in result.objects if o.colour_name == "red")
    assert bottom.position[2] == pytest.approx(0.025, abs=0.002)


def test_ids_stay_while_objects_stay_or_are_carried_and_are_never_reused():
    a = Solid("box", (0.4, -0.15), (0.04, 0.04, 0.04), 0.0, RGB["red"])
    b = Solid("cylinder", (0.55, 0.1), (0.04, 0.04, 0.06), 0.0, RGB["blue"])
    c = Solid("box", (0.35, 0.2), (0.03, 0.05, 0.03), 0.4, RGB["green"])
    p = Perception(PerceptionConfig(register_bin=False))

    def ids(solids, stamp):
        rgb, depth, K, T = frame(solids)
        return {o.colour_name: o.id for o in p.process(rgb, depth, K, T, stamp).objects}

    first = ids([a, b], 1.0)
    assert sorted(first.values()) == ["obj_1", "obj_2"]
    moved = dataclasses.replace(a, centre=(0.41, -0.14))  # nudged 1.4 cm
    assert ids([moved, b], 1.1) == first
    assert ids([b], 1.2) == {"blue": first["blue"]}  # red picked up: gone from view
    carried = dataclasses.replace(a, centre=(0.62, -0.2))  # put down 24 cm away
    second = ids([carried, b, c], 1.3)
    assert second["red"] == first["red"] and second["blue"] == first["blue"]
    assert second["green"] == "obj_3"
    p.reset()
    assert ids([c], 0.5)["green"] == "obj_4"  # after reset: new ids, old ones never reused


@pytest.mark.parametrize(("change", "message"), [
    ("rgb float", r"rgb must be an \(H, W, 3\) uint8 array, got shape \(240, 320, 3\) dtype float64"),
    ("rgb gray", r"rgb must be an \(H, W, 3\) uint8 array, got shape \(240, 320\) dtype uint8"),
    ("depth size", r"rgb is 320x240 but depth is 160x120; they must be registered images of the same size"),
    ("depth int", r"depth must be an \(H, W\) float32 array in metres, got shape \(240, 320\) dtype uint16"),
    ("all nan", r"only 0.0% of the depth pixels have a return \(at least 5% needed\)"),
    ("bad K", r"K must be a finite \(3, 3\) intrinsic matrix with fx, fy > 0"),
    ("bad T", r"T_base_optical's rotation part is not a rotation matrix"),
    ("old stamp", r"stamp 0.500 s is older than the previous frame's 1.000 s"),
])
def test_bad_frames_are_rejected_with_a_clear_message(change, message):
    rgb, depth, K, T = frame([])
    p = Perception(PerceptionConfig(register_bin=False))
    stamp = 1.0
    if change == "rgb float":
        rgb = rgb.astype(float)
    elif change == "rgb gray":
        rgb = rgb[:, :, 0]
    elif change == "depth size":
        depth = depth[::2, ::2]
    elif change == "depth int":
        depth = (np.nan_to_num(depth) * 1000).astype(np.uint16)
    elif change == "all nan":
        depth = np.full_like(depth, np.nan)
    elif change == "bad K":
        K = np.zeros((3, 3))
    elif change == "bad T":
        T = T.copy()
        T[:3, :3] *= 2.0
    elif change == "old stamp":
        p.process(rgb, depth, K, T, 1.0)
        stamp = 0.5
    with pytest.raises(ValueError, match=message):
        p.process(rgb, depth, K, T, stamp)


def test_a_frame_without_the_table_falls_back_to_the_configured_pose():
    rgb, depth, K, T = frame(SCENE)
    depth = depth.copy()
    depth[depth > 0] += 0.2  # everything 20 cm farther: no plane near the configured one
    result = Perception(PerceptionConfig(register_bin=False)).process(rgb, depth, K, T, 0.0)
    assert result.table_plane is None and result.camera_correction is None
    assert result.warnings[0].startswith("table plane not found")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_height", 0.005, r"max_height \(0.005 m\) must exceed min_object_height"),
    ("camera_quaternion", (0.0, 0.0, 0.0, 2.0), r"camera_quaternion must be a unit quaternion"),
    ("palette", (("red", (1.0, 0.0, 0.0)), ("red", (0.9, 0.0, 0.0))), r"palette has duplicate names"),
    ("palette", (("red", (1.5, 0.0, 0.0)),), r"palette: red = \(1.5, 0.0, 0.0\); expected \(r, g, b\) each in 0..1"),
    ("plane_tolerance", -1.0, r"plane_tolerance must be a finite number > 0, got -1.0"),
])
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        check_config(PerceptionConfig(**{field: value}))
