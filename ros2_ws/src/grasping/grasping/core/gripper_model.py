"""Geometry of the Franka Panda hand, in the grasp frame (``panda_grasptarget``).

Grasp frame: the point midway between the finger pads; z points from the wrist towards
the fingertips (the approach direction), y is the closing axis, x = y × z. Metres.

The numbers below were measured from the collision meshes that pybullet_data's
``franka_panda/panda.urdf`` uses (``meshes/collision/finger.obj``, ``hand.obj``,
``link7.obj``) and the URDF's joint origins: the fingers' joints sit 0.0584 m along the
hand's z axis, the grasp frame 0.105 m; a finger's mesh spans z 0 .. 0.0538 m in its own
frame (so its tip is 0.0072 m beyond the grasp frame and its root 0.0466 m behind it),
x ± 0.0105 m, and y 0 .. 0.0264 m outwards from the pad face (0.014 m thick at the tip).
The flat pad is the last ~0.018 m of the finger (x ± 0.0088 m). The hand's collision mesh
spans x ± 0.0316 m, y ± 0.104 m and z -0.026 .. 0.066 m in the hand frame, i.e. its
underside is 0.039 m behind the grasp frame; its convex hull narrows to x ± 0.0245 m at
the underside (± 0.028 m 0.03 m above it). Link 7 and the flange reach ~0.045 m around
the wrist axis (more on one side; the motion layer's full collision model covers that).
The sim oracle (armbrain_sim.oracle) uses rounder, slightly larger values of the same
quantities (finger half width 0.013 m, thickness 0.028 m, tip 0.009 m below the grasp
frame, hand 0.04 m above it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from brain_common.cell import default_cell

# A box in the grasp frame: ((x_min, y_min, z_min), (x_max, y_max, z_max)), metres.
LocalBox = tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True, slots=True)
class GripperModel:
    """A parallel-jaw gripper as boxes in the grasp frame (see the module docstring).

    max_opening: largest distance between the pads, metres.
    finger_width: a finger's extent along the grasp x axis.
    finger_thickness: a finger's extent along the closing (y) axis, outwards from its
        pad face (the thickest part, near the root, so collision checks are conservative).
    finger_root: distance from the grasp frame back (along -z) to the finger's root.
    fingertip: distance from the grasp frame forward (along +z) to the fingertips.
    pad_width: the flat pad's extent along x. pad_length: its extent along z, ending at
        the fingertip.
    hand_offset: distance from the grasp frame back to the hand's underside (palm).
    hand_half_x, hand_half_y: half extents of the hand body. hand_depth: its extent
        along z (behind hand_offset). The mesh narrows towards the fingers: its lowest
        ``hand_low_depth`` is only ``hand_low_half_x`` thick along x.
    wrist_half: half extent (x and y) of the wrist (link 7 and flange) behind the hand;
        wrist_depth its extent along z.
    """

    max_opening: float = field(default_factory=lambda: default_cell().gripper.max_opening)
    finger_width: float = 0.021
    finger_thickness: float = 0.0264
    finger_root: float = 0.0466
    fingertip: float = 0.0072
    pad_width: float = 0.0176
    pad_length: float = 0.018
    hand_offset: float = 0.039
    hand_half_x: float = 0.0316
    hand_half_y: float = 0.104
    hand_depth: float = 0.092
    hand_low_half_x: float = 0.028
    hand_low_depth: float = 0.03
    wrist_half: float = 0.045
    wrist_depth: float = 0.06

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not value > 0.0:
                raise ValueError(f"GripperModel.{name} must be > 0, got {value}")

    @property
    def pad_z_range(self) -> tuple[float, float]:
        """(z_min, z_max) of the pad along the grasp z axis, metres."""
        return (self.fingertip - self.pad_length, self.fingertip)

    def finger_boxes(self, opening: float, sweep: float = 0.0) -> list[LocalBox]:
        """The two fingers at pad-to-pad `opening` (m), each extended back along -z by
        `sweep` (m: the straight approach from the pre-grasp pose)."""
        hx, o = self.finger_width / 2.0, opening / 2.0
        z0, z1 = -self.finger_root - sweep, self.fingertip
        return [((-hx, o, z0), (hx, o + self.finger_thickness, z1)),
                ((-hx, -o - self.finger_thickness, z0), (hx, -o, z1))]

    def hand_boxes(self, sweep: float = 0.0) -> list[LocalBox]:
        """The hand body (its narrower lowest part, the rest) and the wrist behind it, each
        extended back along -z by `sweep` (m)."""
        z_hand = -self.hand_offset
        z_low = z_hand - self.hand_low_depth
        z_wrist = z_hand - self.hand_depth
        return [((-self.hand_low_half_x, -self.hand_half_y, z_low - sweep),
                 (self.hand_low_half_x, self.hand_half_y, z_hand)),
                ((-self.hand_half_x, -self.hand_half_y, z_wrist - sweep),
                 (self.hand_half_x, self.hand_half_y, z_low)),
                ((-self.wrist_half, -self.wrist_half, z_wrist - self.wrist_depth - sweep),
                 (self.wrist_half, self.wrist_half, z_wrist))]


PANDA_HAND = GripperModel()
