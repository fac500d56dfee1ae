"""Segmentation of the candidate points (steps 4-6 of pipeline.py's module docstring):
connected groups on a top-down grid, segments touching the robot arm, splitting touching
objects by colour and merging shading pieces back, joining one object cut in two by a
nearer one, and a segment's image outline for the fit.

Segments are index arrays into the candidates' arrays: points P (N, 3) m in the table
frame, colour classes cls (N,), image rows v / vs and columns u / us (N,), depths z / zc (N,) m.
"""

from __future__ import annotations

import cv2
import numpy as np

from perception.core.arrays import min_max_xy, quantile, take_rows

MERGE_TOP_DIFFERENCE = 0.01  # m: colour pieces with tops closer than this may be one object
MERGE_OVERLAP = 0.5  # fraction of a piece's points over the other piece's footprint
OCCLUSION_STEP = 0.005  # m: a neighbour this much nearer hides the object's outline
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_SQUARE = np.ones((3, 3), np.uint8)
_CLOSE_THEN_CROSS = cv2.dilate(np.pad(_CROSS, 1), _SQUARE)  # 5 x 5 without corners: erosion by _SQUARE then _CROSS


def grid_components(xy: np.ndarray, res: float) -> list[np.ndarray]:
    """Index arrays of the groups of (N, >= 2) xy points (m) that are connected on the top-down
    grid of `res` m cells."""
    x, y = xy[:, 0], xy[:, 1]
    gi = ((x - (x.min() - 2 * res)) / res).astype(np.int32)
    gj = ((y - (y.min() - 2 * res)) / res).astype(np.int32)
    shape = (int(gj.max()) + 3, int(gi.max()) + 3)
    cell = gj * shape[1] + gi  # flat cell indices: put and take beat 2-D fancy indexing
    grid = np.zeros(shape, np.uint8)
    np.put(grid, cell, 1)
    grid = cv2.dilate(grid, _SQUARE)
    # Wu's two-pass labelling: the same raster-order labels as OpenCV's default for
    # 4-connectivity, a third faster.
    n, labels = cv2.connectedComponentsWithAlgorithm(grid, 4, cv2.CV_32S, cv2.CCL_WU)
    lab = labels.take(cell)
    # A stable sort of small unsigned labels is a radix sort: several times faster.
    order = np.argsort(lab.astype(np.uint16) if n <= 1 << 16 else lab, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(lab, minlength=n))])
    return [order[bounds[k]:bounds[k + 1]] for k in range(1, n) if bounds[k + 1] > bounds[k]]


def touches_robot(idx: np.ndarray, box: tuple[int, int, int, int], vs: np.ndarray, us: np.ndarray,
                  zc: np.ndarray, height: np.ndarray, depth: np.ndarray, max_height: float,
                  attach_distance: float) -> bool:
    """True if a pixel of the segment (indices idx into the candidates' vs, us rows/cols and
    zc depths; box: its rows' and columns' min and max) is a 4-neighbour of a pixel above
    max_height (`height` (H, W) m above the table, NaN without depth) at a depth within
    robot_attach_distance."""
    h, w = height.shape
    r0, r1 = max(box[0] - 1, 0), min(box[1] + 2, h)
    c0, c1 = max(box[2] - 1, 0), min(box[3] + 2, w)
    hm = height[r0:r1, c0:c1] >= max_height
    if not hm.any():
        return False
    dz = np.full(hm.shape, np.nan, np.float32)
    dz[vs.take(idx) - r0, us.take(idx) - c0] = zc.take(idx)
    dh = np.where(hm, depth[r0:r1, c0:c1], np.nan)
    tol = attach_distance
    a, b = np.s_[:, :-1], np.s_[:, 1:]
    c, d = np.s_[:-1, :], np.s_[1:, :]
    with np.errstate(invalid="ignore"):
        return bool(np.any(np.abs(dz[a] - dh[b]) < tol) or np.any(np.abs(dz[b] - dh[a]) < tol)
                    or np.any(np.abs(dz[c] - dh[d]) < tol) or np.any(np.abs(dz[d] - dh[c]) < tol))


def split_by_colour(idx: np.ndarray, cls: np.ndarray, P: np.ndarray, n_colours: int, min_pixels: int,
                    res: float) -> list[np.ndarray]:
    """Split one geometric segment (indices idx into the candidates' colour classes cls (N,)
    and points P (N, 3) m) into single-colour pieces when it holds two or more substantial
    colours (of n_colours; pieces of at least min_pixels, grid cells of res m), merging back
    pieces of one object in different shading (see pipeline.py's module docstring)."""
    cls_idx = cls.take(idx)
    hist = np.bincount(cls_idx, minlength=n_colours)
    significant = (hist >= max(min_pixels, 0.02 * len(idx))).nonzero()[0]
    if len(significant) <= 1:
        return [idx]
    pieces = []
    for k in significant:
        sub = idx[cls_idx == k]
        pieces.extend(sub[part] for part in grid_components(take_rows(P, sub), res) if len(part) >= min_pixels)
    if len(pieces) <= 1:
        return pieces or [idx]
    return merge_pieces(pieces, P, res)


def join_occluded(segments: list[np.ndarray], cls: np.ndarray, P: np.ndarray, v: np.ndarray,
                  u: np.ndarray, z: np.ndarray, depth: np.ndarray, n_colours: int,
                  max_object_size: float) -> list[np.ndarray]:
    """Join segments (index arrays into the candidates: colour classes cls, points P (N, 3) m,
    rows v, columns u, depths z (N,) m) that are one object cut in two by a nearer object: the
    same main colour (of n_colours), tops within MERGE_TOP_DIFFERENCE / 2, together within
    max_object_size m, and every pixel on the image line between their centres either theirs
    or nearer (depth (H, W) m)."""
    if len(segments) <= 1:
        return segments
    n_col = n_colours
    main = [int(np.argmax(np.bincount(cls[seg[::4]], minlength=n_col))) for seg in segments]
    if len(set(main)) == len(main):
        return segments  # no two segments of one colour: nothing to join
    # Top height and xy bounds of the segments that share their colour with another (only
    # those can be joined).
    shared = {colour for colour in main if main.count(colour) > 1}
    info: list[tuple | None] = []
    for seg, colour in zip(segments, main, strict=True):
        if colour not in shared:
            info.append(None)
            continue
        Ps = take_rows(P, seg)
        k = int(0.9 * (len(seg) - 1))
        info.append((colour, float(np.partition(Ps[:, 2], k)[k]), *min_max_xy(Ps)))
    parent = list(range(len(segments)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    h, w = depth.shape
    for i in range(len(segments)):
        for j in range(i + 1, len(segments)):
            if main[i] != main[j] or info[i] is None:
                continue
            (_, ti, loi, hii), (_, tj, loj, hij) = info[i], info[j]
            if abs(ti - tj) > MERGE_TOP_DIFFERENCE / 2 or root(i) == root(j):
                continue
            if np.any(np.maximum(hii, hij) - np.minimum(loi, loj) > max_object_size):
                continue
            a, b = segments[i], segments[j]
            ends = [(float(v[q].mean()), float(u[q].mean()), float(np.median(z[q]))) for q in (a, b)]
            n = int(max(abs(ends[0][0] - ends[1][0]), abs(ends[0][1] - ends[1][1]))) + 2
            t = np.linspace(0.0, 1.0, n)
            lv = np.clip(np.rint(ends[0][0] + t * (ends[1][0] - ends[0][0])).astype(int), 0, h - 1)
            lu = np.clip(np.rint(ends[0][1] + t * (ends[1][1] - ends[0][1])).astype(int), 0, w - 1)
            both = np.concatenate([a, b])
            r0, c0 = min(int(v[both].min()), int(lv.min())), min(int(u[both].min()), int(lu.min()))
            own = np.zeros((max(int(v[both].max()), int(lv.max())) - r0 + 1,
                            max(int(u[both].max()), int(lu.max())) - c0 + 1), bool)
            own[v[both] - r0, u[both] - c0] = True
            with np.errstate(invalid="ignore"):
                nearer = depth[lv, lu] < min(ends[0][2], ends[1][2]) - OCCLUSION_STEP
            if np.all(own[lv - r0, lu - c0] | nearer):
                parent[root(j)] = root(i)
    groups: dict[int, list[np.ndarray]] = {}
    for i, seg in enumerate(segments):
        groups.setdefault(root(i), []).append(seg)
    return [np.concatenate(g) for g in groups.values()]


def merge_pieces(pieces: list[np.ndarray], P: np.ndarray, res: float) -> list[np.ndarray]:
    """Merge colour pieces (index arrays into points P (N, 3) m) that are one object in
    different shading: tops within MERGE_TOP_DIFFERENCE and most of one piece's points over
    the other's footprint cells (grid of res m)."""
    rows = [take_rows(P, p) for p in pieces]
    lo = np.array([min(r[:, 0].min() for r in rows), min(r[:, 1].min() for r in rows)]) - 2 * res
    # Each piece's points as flat cells of one grid (column by column: narrow arrays are slow).
    gi = [((r[:, 0] - lo[0]) / res).astype(np.int32) for r in rows]
    gj = [((r[:, 1] - lo[1]) / res).astype(np.int32) for r in rows]
    shape = (max(int(g.max()) for g in gj) + 3, max(int(g.max()) for g in gi) + 3)
    cells = [j * shape[1] + i for i, j in zip(gi, gj, strict=True)]
    masks = []
    for c in cells:
        m = np.zeros(shape, np.uint8)
        np.put(m, c, 1)
        masks.append(cv2.dilate(m, _SQUARE))
    tops = [quantile(r[:, 2], 0.9) for r in rows]
    parent = list(range(len(pieces)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces)):
            if abs(tops[i] - tops[j]) > MERGE_TOP_DIFFERENCE:
                continue
            over_i = masks[j].take(cells[i]).mean()
            over_j = masks[i].take(cells[j]).mean()
            if max(over_i, over_j) > MERGE_OVERLAP:
                parent[root(j)] = root(i)
    groups: dict[int, list[np.ndarray]] = {}
    for i, p in enumerate(pieces):
        groups.setdefault(root(i), []).append(p)
    return [np.concatenate(g) for g in groups.values()]


def segment_outline(v: np.ndarray, u: np.ndarray, z: np.ndarray, box: tuple[int, int, int, int],
                    depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edge, visible) (n,) bool: the segment's pixels (v rows, u cols, z depths; box: their
    rows' and columns' min and max) on its image outline, and those of them not on the image
    border whose outside neighbours are not nearer (an occluder) by more than OCCLUSION_STEP."""
    h, w = depth.shape
    r0, r1 = max(box[0] - 2, 0), min(box[1] + 3, h)
    c0, c1 = max(box[2] - 2, 0), min(box[3] + 3, w)
    cell = (v - r0) * (c1 - c0) + (u - c0)  # flat indices into the window: put and take are fast
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    np.put(mask, cell, 1)
    # Pixels without depth (dropouts) leave holes: closed first (dilated, then eroded), so
    # that only the real outline counts as edge; the outline is what a 4-neighbour erosion
    # of that removes. Both erosions in one: by the 5 x 5 square-plus-cross.
    dilated = cv2.dilate(mask, _SQUARE, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    inner = cv2.erode(dilated, _CLOSE_THEN_CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    edge = inner.take(cell) == 0
    # Nearest outside neighbour depth: outside pixels keep their depth, inside ones (and
    # those without depth) +inf.
    window = depth[r0:r1, c0:c1]
    outside = np.where(mask.view(bool) | np.isnan(window), np.float32(np.inf), window)
    nearest = cv2.erode(outside, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)
    visible = edge & ~(nearest.take(cell) < z - OCCLUSION_STEP)
    if r0 == 0 or c0 == 0 or r1 == h or c1 == w:
        # The image border cuts an object as an occluder would.
        visible &= ~((v == 0) | (u == 0) | (v == h - 1) | (u == w - 1))
    return edge, visible
