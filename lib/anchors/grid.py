"""Anchors seen as regular grids, so that a face visits only the anchors that can overlap it.

A block is the anchors of one level and one shape: an h x w grid whose columns share x1, x2 and whose rows
share y1, y2, anchor (row, col) at index ``base + row * row_step + col * col_step``. A level with k anchors a
pixel has k blocks, stored either pixel by pixel (the k anchors of a pixel adjacent) or shape by shape. The
blocks are read off the anchor array itself, with the level sizes from the generator's spec, and checked
against it value for value: any layout the generator produces is described exactly or rejected (None).
"""
import collections

import numpy as np

Block = collections.namedtuple('Block', 'x1 x2 y1 y2 base row_step col_step area_min area_max width_max '
                                 'height_max')
# Faces x blocks: first row / column and number of rows / columns of the anchors a face visits in a block.
Overlaps = collections.namedtuple('Overlaps', 'row0 col0 rows cols')
SLACK = 1e-4  # relative: keeps bounds in exact arithmetic above the float32 IoU of the same numbers


def _block(cells, base, row_step, col_step):
    """The Block of cells [h, w, 4], or None when its columns / rows do not share coordinates, are not
    sorted, or hold an empty anchor."""
    x1, x2, y1, y2 = cells[0, :, 0], cells[0, :, 2], cells[:, 0, 1], cells[:, 0, 3]
    same = ((cells[..., 0] == x1).all() and (cells[..., 2] == x2).all() and
            (cells[..., 1] == y1[:, None]).all() and (cells[..., 3] == y2[:, None]).all())
    if not same or not all((np.diff(v) >= 0).all() for v in (x1, x2, y1, y2)):
        return None
    widths, heights = x2.astype(np.float64) - x1, y2.astype(np.float64) - y1  # exact for float32 inputs
    if widths.min() <= 0 or heights.min() <= 0:
        return None
    return Block(x1.astype(np.float64), x2.astype(np.float64), y1.astype(np.float64), y2.astype(np.float64),
                 base, row_step, col_step, widths.min() * heights.min(), widths.max() * heights.max(),
                 widths.max(), heights.max())


def _blocks(anchors, level_sizes, per_pixel, pixel_major):
    blocks, offset = [], 0
    for h, w in level_sizes:
        level = anchors[offset:offset + per_pixel * h * w]
        if pixel_major:
            grids = level.reshape(h, w, per_pixel, 4).transpose(2, 0, 1, 3)
            steps = [(offset + j, w * per_pixel, per_pixel) for j in range(per_pixel)]
        else:
            grids = level.reshape(per_pixel, h, w, 4)
            steps = [(offset + j * h * w, w, 1) for j in range(per_pixel)]
        for cells, (base, row_step, col_step) in zip(grids, steps):
            block = _block(cells, base, row_step, col_step)
            if block is None:
                return None
            blocks.append(block)
        offset += per_pixel * h * w
    return blocks


class AnchorGrid(object):
    """The blocks of an anchor array; ``ranges`` finds the anchors a face may reach in O(log) per block."""

    def __init__(self, anchors, blocks):
        self.size = len(anchors)
        self.columns = [np.ascontiguousarray(anchors[:, k]) for k in range(4)]  # x1, y1, x2, y2
        self.blocks = blocks
        self.base = np.array([b.base for b in blocks], np.int64)
        self.row_step = np.array([b.row_step for b in blocks], np.int64)
        self.col_step = np.array([b.col_step for b in blocks], np.int64)
        for name in ('area_min', 'area_max', 'width_max', 'height_max'):
            setattr(self, name, np.array([getattr(b, name) for b in blocks]))
        # whether indices come out ascending, block by block, row by row (not when k anchors of a pixel are
        # adjacent and k > 1: the blocks of a level interleave)
        last = [b.base + (len(b.y1) - 1) * b.row_step + (len(b.x1) - 1) * b.col_step for b in blocks]
        self.ascending = all(b.row_step > (len(b.x1) - 1) * b.col_step and b.col_step > 0 for b in blocks) and \
            all(end < b.base for end, b in zip(last, blocks[1:]))

    @classmethod
    def from_anchors(cls, anchors, level_sizes):
        """The grid of float32 anchors [A, 4] laid out level by level over maps of ``level_sizes`` [(h, w)],
        the same number of anchors on every pixel; None when the array is not such a grid."""
        anchors = np.asarray(anchors)
        pixels = sum(h * w for h, w in level_sizes)
        if anchors.dtype != np.float32 or anchors.ndim != 2 or anchors.shape[1] != 4 or not pixels or \
                len(anchors) % pixels or not np.isfinite(anchors).all():
            return None
        per_pixel = len(anchors) // pixels
        for pixel_major in ((True, False) if per_pixel > 1 else (True,)):
            blocks = _blocks(anchors, level_sizes, per_pixel, pixel_major)
            if blocks is not None:
                return cls(anchors, blocks)
        return None

    def bounds(self, boxes):
        """[F, B] upper bound of the IoU of face f (finite float32 boxes [F, 4]) with any anchor of block b:
        the smaller area over the larger one, with slack; -1 for a face without area (its IoU is 0)."""
        width, height, area = _sizes(boxes)
        bounds = np.minimum(area[:, None], self.area_max) / np.maximum(area[:, None], self.area_min)
        return np.where(((width > 0) & (height > 0))[:, None], bounds * (1 + SLACK) + 1e-12, -1.)

    def ranges(self, boxes, bounds, cut):
        """Overlaps [F, B]: the anchors of each block that overlap face f and whose IoU with it may reach
        cut[f] > 0 (a superset of them; none where bounds < cut). IoU <= overlap width x min(heights) /
        max(areas), so an anchor needs an overlap of at least cut x max(areas) / min(heights) on x, alike on
        y. With cut 0: every anchor that overlaps the face (the others have IoU 0)."""
        width, height, area = _sizes(boxes)
        need = (cut * (1 - SLACK))[None, :] * np.maximum(area, self.area_min[:, None])  # [B, F]
        need_x = np.maximum(need / np.maximum(np.minimum(height, self.height_max[:, None]), 1e-30) - 1e-3, 0.)
        need_y = np.maximum(need / np.maximum(np.minimum(width, self.width_max[:, None]), 1e-30) - 1e-3, 0.)
        # strict overlap: an anchor edge beyond the face's (the next float32 up / down, as anchors are float32)
        above = np.nextafter(boxes, np.float32(np.inf)).astype(np.float64).T
        below = np.nextafter(boxes, np.float32(-np.inf)).astype(np.float64).T
        low_x, high_x = np.maximum(boxes[:, 0] + need_x, above[0]), np.minimum(boxes[:, 2] - need_x, below[2])
        low_y, high_y = np.maximum(boxes[:, 1] + need_y, above[1]), np.minimum(boxes[:, 3] - need_y, below[3])
        near = np.empty((4, len(self.blocks), len(boxes)), np.int64)
        for k, b in enumerate(self.blocks):
            near[0, k] = np.searchsorted(b.y2, low_y[k], 'left')
            near[1, k] = np.searchsorted(b.x2, low_x[k], 'left')
            near[2, k] = np.searchsorted(b.y1, high_y[k], 'right')
            near[3, k] = np.searchsorted(b.x1, high_x[k], 'right')
        near[2:] = np.maximum(near[2:] - near[:2], 0) * (bounds >= cut[:, None]).T
        return Overlaps(*[field.T for field in near])

    def indices(self, near):
        """(face, anchor index) int64 pairs of the anchors in Overlaps ``near`` [F, B], grouped by face and
        ascending by index within a face, and where each face's run starts [F + 1]."""
        faces, blocks = np.nonzero(near.rows * near.cols)
        rows, cols = near.rows[faces, blocks], near.cols[faces, blocks]
        start = np.zeros(len(near.rows) + 1, np.int64)
        start[1:] = np.cumsum(np.bincount(faces, rows * cols, len(near.rows)).astype(np.int64))
        # rectangle -> its rows (first anchor of each) -> their anchors
        line = np.repeat(np.arange(len(faces)), rows)
        row = np.arange(len(line)) - np.repeat(np.cumsum(rows) - rows, rows)
        first = (self.base[blocks] + near.row0[faces, blocks] * self.row_step[blocks] +
                 near.col0[faces, blocks] * self.col_step[blocks])[line] + row * self.row_step[blocks][line]
        width = cols[line]
        run = np.repeat(np.arange(len(line)), width)
        col = np.arange(start[-1]) - np.repeat(np.cumsum(width) - width, width)
        index = first[run] + col * self.col_step[blocks][line][run]
        faces = faces[line][run]
        if not self.ascending:
            order = np.lexsort((index, faces))
            faces, index = faces[order], index[order]
        return faces, index, start


def _sizes(boxes):
    """(width, height, area) float64 of boxes [F, 4] (exact for float32 boxes), area 0 for an empty box."""
    width = boxes[:, 2].astype(np.float64) - boxes[:, 0]
    height = boxes[:, 3].astype(np.float64) - boxes[:, 1]
    return width, height, np.where((width > 0) & (height > 0), width * height, 0.)
