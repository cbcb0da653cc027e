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
    return Block(x1, x2, y1, y2, base, row_step, col_step, widths.min() * heights.min(),
                 widths.max() * heights.max(), widths.max(), heights.max())


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
    """The blocks of an anchor array, and ``arrays``: the same packed flat, block after block, as the kernel
    (grid_match.pyx) reads them."""

    def __init__(self, blocks):
        def per_block(name, dtype):
            return np.array([getattr(b, name) for b in blocks], dtype)

        self.blocks = blocks
        self.area_min, self.area_max = per_block('area_min', np.float64), per_block('area_max', np.float64)
        self.arrays = {name: np.concatenate([getattr(b, name) for b in blocks]) for name in ('x1', 'x2', 'y1', 'y2')}
        self.arrays.update(
            col_start=np.cumsum([0] + [len(b.x1) for b in blocks]).astype(np.int64),
            row_start=np.cumsum([0] + [len(b.y1) for b in blocks]).astype(np.int64),
            base=per_block('base', np.int64), row_step=per_block('row_step', np.int64),
            col_step=per_block('col_step', np.int64), area_min=self.area_min,
            width_max=per_block('width_max', np.float64), height_max=per_block('height_max', np.float64))

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
                return cls(blocks)
        return None

    def bounds(self, boxes):
        """[F, B] upper bound of the IoU of face f (finite float32 boxes [F, 4]) with any anchor of block b:
        the smaller area over the larger one, with slack; -1 for a face without area (its IoU is 0)."""
        width, height, area = _sizes(boxes)
        bounds = np.minimum(area[:, None], self.area_max) / np.maximum(area[:, None], self.area_min)
        return np.where(((width > 0) & (height > 0))[:, None], bounds * (1 + SLACK) + 1e-12, -1.)


def _sizes(boxes):
    """(width, height, area) float64 of boxes [F, 4] (exact for float32 boxes), area 0 for an empty box."""
    width = boxes[:, 2].astype(np.float64) - boxes[:, 0]
    height = boxes[:, 3].astype(np.float64) - boxes[:, 1]
    return width, height, np.where((width > 0) & (height > 0), width * height, 0.)
