"""The colours the brain names objects with, and the simulator paints them with (RGB 0..1).

Saturated and far apart in hue (red 0 deg, orange ~29, yellow ~53, green ~126, cyan ~183,
blue ~227, purple ~281) plus white and black, so that a hue shift of +-10 deg never turns
one into another. Perception names colours by hue and brightness after white balance, so
these describe paints, not one lighting.
"""

from __future__ import annotations

PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.70, 0.15),
    "blue": (0.10, 0.25, 0.85),
    "yellow": (0.95, 0.85, 0.10),
    "orange": (1.00, 0.50, 0.05),
    "purple": (0.55, 0.15, 0.75),
    "cyan": (0.10, 0.80, 0.85),
    "white": (0.95, 0.95, 0.95),
    "black": (0.08, 0.08, 0.08),
}
COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)
