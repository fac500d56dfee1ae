"""Colour naming that survives lighting changes.

1. White balance against the table: the table top's observed colour (median of its
   pixels) is mapped to its known paint colour (``PerceptionConfig.table_rgb``) with one
   gain per channel. A brighter or dimmer light and a coloured cast multiply every
   pixel's channels alike, so the same gains undo them for the objects too.
2. Naming by hue, not by RGB distance: shading (a side face is darker than the top)
   scales all channels and keeps the hue. A colour with enough chroma and saturation
   takes the palette entry of nearest hue (a hue shift of ±10° keeps every palette colour
   nearest to itself: the closest palette hues, orange and yellow, are 25° apart);
   otherwise it is achromatic and takes the achromatic entry (white, black) of nearest
   value. Farther than max_hue_error_deg / max_value_error from every entry: "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PaletteModel:
    """A palette prepared for naming. names (P,); rgb (P, 3); chromatic (P,) bool;
    hue_deg (P,); value (P,) = max channel. Lookup tables: hue_index, hue_error (HUE_BINS,)
    the nearest chromatic entry (-1 if none) and its distance in degrees per hue bin;
    value_index, value_error (VALUE_BINS,) the same for achromatic entries by value."""

    names: tuple[str, ...]
    rgb: np.ndarray
    chromatic: np.ndarray
    hue_deg: np.ndarray
    value: np.ndarray
    hue_index: np.ndarray
    hue_error: np.ndarray
    value_index: np.ndarray
    value_error: np.ndarray


HUE_BINS = 720  # half-degree bins
VALUE_BINS = 256


def hsv_from_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, 3) RGB 0..1 -> hue (N,) degrees 0..360, saturation (N,), value (N,), chroma (N,)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    c = v - mn
    safe = np.where(c > 1e-6, c, 1.0)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = (60.0 * h) % 360.0
    sat = np.where(v > 1e-6, c / np.where(v > 1e-6, v, 1.0), 0.0)
    return hue, sat, v, c


def palette_model(palette, min_chroma: float, min_saturation: float) -> PaletteModel:
    """Prepare (name, (r, g, b)) pairs for naming."""
    names = tuple(n for n, _ in palette)
    rgb = np.array([c for _, c in palette], dtype=np.float32).reshape(-1, 3)
    hue, sat, val, chroma = hsv_from_rgb(rgb)
    chromatic = (chroma >= min_chroma) & (sat >= min_saturation)
    bins = (np.arange(HUE_BINS) + 0.5) * 360.0 / HUE_BINS
    hue_index, hue_error = np.full(HUE_BINS, -1), np.full(HUE_BINS, np.inf, np.float32)
    chrom = np.flatnonzero(chromatic)
    if chrom.size:
        d = np.abs(bins[:, None] - hue[chrom][None, :])
        d = np.minimum(d, 360.0 - d)
        hue_index, hue_error = chrom[np.argmin(d, axis=1)], d.min(axis=1).astype(np.float32)
    levels = (np.arange(VALUE_BINS) + 0.5) / VALUE_BINS
    value_index, value_error = np.full(VALUE_BINS, -1), np.full(VALUE_BINS, np.inf, np.float32)
    achrom = np.flatnonzero(~chromatic)
    if achrom.size:
        d = np.abs(levels[:, None] - val[achrom][None, :])
        value_index, value_error = achrom[np.argmin(d, axis=1)], d.min(axis=1).astype(np.float32)
    return PaletteModel(names=names, rgb=rgb, chromatic=chromatic, hue_deg=hue, value=val, hue_index=hue_index,
                        hue_error=hue_error, value_index=value_index, value_error=value_error)


def classify_colours(rgb: np.ndarray, model: PaletteModel, *, min_chroma: float, min_saturation: float,
                     max_hue_error_deg: float | None = None,
                     max_value_error: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Palette index (N,) int of each white-balanced colour in (N, 3) RGB 0..1, -1 = unknown,
    and its error (N,): hue difference in degrees (chromatic) or value difference
    (achromatic). Without max errors every colour gets its nearest entry (no unknown)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).reshape(-1, 3)  # float: hue deg, saturation, value
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    is_chromatic = (sat * val >= min_chroma) & (sat >= min_saturation)
    hb = np.minimum((hue * (HUE_BINS / 360.0)).astype(np.int64), HUE_BINS - 1)
    vb = np.minimum((val * VALUE_BINS).astype(np.int64), VALUE_BINS - 1)
    index = np.where(is_chromatic, model.hue_index.take(hb), model.value_index.take(vb))
    error = np.where(is_chromatic, model.hue_error.take(hb), model.value_error.take(vb))
    if max_hue_error_deg is not None:
        index = np.where(is_chromatic & (error > max_hue_error_deg), -1, index)
    if max_value_error is not None:
        index = np.where(~is_chromatic & (error > max_value_error), -1, index)
    return index, error


def white_balance_gains(observed: np.ndarray, reference: np.ndarray, max_cast: float) -> tuple[np.ndarray, str]:
    """Per-channel gains (3,) that map the observed table colour (3,) to its reference (3,),
    and a warning ("" when none). When the gains differ from their mean by more than
    max_cast (fraction), the table is probably not the configured colour: only the
    brightness is normalised (one gain for all channels)."""
    obs = np.maximum(np.asarray(observed, dtype=np.float64), 1e-3)
    ref = np.asarray(reference, dtype=np.float64)
    gains = ref / obs
    spread = float(np.max(np.abs(gains / gains.mean() - 1.0)))
    if spread > max_cast:
        g = float(ref.mean() / obs.mean())
        return (np.full(3, np.clip(g, 0.2, 5.0)),
                f"table looks {np.round(observed, 2).tolist()}, too far from table_rgb "
                f"{np.round(reference, 2).tolist()} to be a lighting cast ({spread:.0%} > {max_cast:.0%}); "
                f"only brightness is normalised (set table_rgb to the table's colour)")
    return np.clip(gains, 0.2, 5.0), ""


@dataclass(frozen=True, slots=True)
class WhiteBalance:
    """The white balance of one frame.

    gains: (3,) per-channel gains applied to the image (0..1 RGB). reference: what they come
    from: "table_prior" (the table is the configured paint table_rgb: gains map it there,
    which also normalises brightness), "robot" (the table is another paint: the robot's white
    links neutralise the light's tint, brightness is kept), "table_neutral" (no robot seen,
    the table is grey-ish and taken as neutral), or "none". table_rgb: (3,) the table's
    paint as perceived (its observed colour times the gains), 0..1. warning: "" or one sentence.
    """

    gains: np.ndarray
    reference: str
    table_rgb: np.ndarray
    warning: str = ""


def chromaticity(rgb: np.ndarray) -> np.ndarray:
    """(3,) r, g, b divided by their sum (brightness removed)."""
    rgb = np.maximum(np.asarray(rgb, dtype=np.float64), 1e-6)
    return rgb / rgb.sum()


def estimate_white_balance(table_observed: np.ndarray, table_prior: np.ndarray, robot_white: np.ndarray | None, *,
                           max_cast: float, tolerance: float, max_brightness_gain: float) -> WhiteBalance:
    """White balance from what the scene offers (see WhiteBalance.reference).

    table_observed (3,): median colour of the table's pixels, 0..1. table_prior (3,): its
    configured paint. robot_white (3,) or None: median colour of the robot's bright (white)
    links, an achromatic surface whose paint cannot change, 0..1.

    Seen alone, a table's paint and the light's tint are confounded; the robot's white links
    separate them: the tint is what makes them non-grey. The table is taken to be the prior
    paint when, after removing that tint, its chromaticity is within `tolerance` of the
    prior's and its brightness within max_brightness_gain of it (without a robot in view:
    when the per-channel gains to the prior agree within max_cast, as before). Then the
    prior's gains are used (they also undo brightness changes). Otherwise the robot's tint
    correction is used alone, and the table's paint is reported as perceived.
    """
    obs = np.maximum(np.asarray(table_observed, dtype=np.float64), 1e-3)
    prior = np.asarray(table_prior, dtype=np.float64)
    g_prior = prior / obs
    spread = float(np.max(np.abs(g_prior / g_prior.mean() - 1.0)))
    brightness = float(prior.mean() / obs.mean())
    plausible = 1.0 / max_brightness_gain <= brightness <= max_brightness_gain
    if robot_white is not None:
        white = np.maximum(np.asarray(robot_white, dtype=np.float64), 1e-3)
        g_tint = np.clip(white.mean() / white, 0.2, 5.0)
        distance = float(np.max(np.abs(chromaticity(obs * g_tint) - chromaticity(prior))))
        if plausible and distance <= tolerance and spread <= max_cast:
            gains = np.clip(g_prior, 0.2, 5.0)
            return WhiteBalance(gains, "table_prior", obs * gains)
        return WhiteBalance(g_tint, "robot", np.clip(obs * g_tint, 0.0, 1.0),
                            f"table looks {np.round(obs * g_tint, 2).tolist()} (light tint removed with the robot's "
                            f"white links), not table_rgb {np.round(prior, 2).tolist()}: white balance from the "
                            f"robot, brightness not normalised")
    if plausible and spread <= max_cast:
        gains = np.clip(g_prior, 0.2, 5.0)
        return WhiteBalance(gains, "table_prior", obs * gains)
    _, sat, _, _ = hsv_from_rgb(obs[None, :])
    if float(sat[0]) < 0.25:
        g = np.clip(obs.mean() / obs, 0.2, 5.0)
        return WhiteBalance(g, "table_neutral", np.clip(obs * g, 0.0, 1.0),
                            f"table looks {np.round(obs, 2).tolist()}, not table_rgb {np.round(prior, 2).tolist()}, "
                            f"and no robot is in view: the grey-ish table is taken as neutral for the white balance")
    return WhiteBalance(np.ones(3), "none", obs,
                        f"table looks {np.round(obs, 2).tolist()}, not table_rgb {np.round(prior, 2).tolist()}, and "
                        f"no robot is in view: colours are named without white balance")
