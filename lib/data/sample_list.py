"""``train.txt`` / ``val.txt``: one image a line, ``path| x1,y1,x2,y2,1 x1,y1,x2,y2,1 ...`` (the reference
format; the trailing ``,1`` is the class, faces only). An image without boxes is ``path|`` (a pure negative)."""
import os

import numpy as np

from lib.common.errors import UserError, where
from lib.common.io import read_text_lines, write_text

EXPECTED = "'path| x1,y1,x2,y2,1 x1,y1,x2,y2,1 ...'"


def _number(value):
    """Integers without a decimal point (WIDER boxes are integral), other values as short as exact."""
    value = float(value)
    return '%d' % value if value == int(value) else repr(value)


def format_sample(path, boxes):
    """One train.txt line (no newline)."""
    if '\n' in path:
        raise UserError('image path %r contains a newline; it cannot go into a sample list' % path)
    parts = [','.join(_number(v) for v in box[:4]) + ',1' for box in np.asarray(boxes).reshape(-1, 4)]
    return path + '|' + ''.join(' ' + p for p in parts)


def write_sample_list(path, samples):
    """Atomically write [(image_path, boxes [N, 4] x1, y1, x2, y2)] as a sample list."""
    write_text(path, ''.join(format_sample(p, b) + '\n' for p, b in samples))


def _parse_box(path, lineno, index, token):
    field = 'box %d' % index
    values = token.split(',')
    if len(values) not in (4, 5):
        raise UserError('%s: expected x1,y1,x2,y2,1 (4 coordinates and the class), got %r'
                        % (where(path, lineno, field), token))
    try:
        x1, y1, x2, y2 = [float(v) for v in values[:4]]
    except ValueError:
        raise UserError('%s: expected numbers x1,y1,x2,y2,1, got %r' % (where(path, lineno, field), token))
    if not np.all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
        raise UserError('%s: expected x1 < x2 and y1 < y2, got %r; remove the empty box'
                        % (where(path, lineno, field), token))
    return x1, y1, x2, y2


def read_sample_list(path):
    """Parse a sample list into [(image_path, boxes float32 [N, 4] x1, y1, x2, y2)]; boxes may be [0, 4].
    Malformed lines are a UserError with file:line and what was expected."""
    if not os.path.isfile(path):
        raise UserError('sample list not found: %s (run tools/prepare_wider_data.py first)' % path)
    samples = []
    for lineno, line in enumerate(read_text_lines(path), 1):
        line = line.strip()
        if not line:
            continue
        image_path, bar, rest = line.rpartition('|')
        if not bar or not image_path.strip():
            raise UserError('%s: expected %s, got %r' % (where(path, lineno), EXPECTED, line[:80]))
        boxes = [_parse_box(path, lineno, i + 1, t) for i, t in enumerate(rest.split())]
        samples.append((image_path.strip(), np.array(boxes, dtype=np.float32).reshape(-1, 4)))
    if not samples:
        raise UserError('%s: no samples in the list; expected lines %s' % (path, EXPECTED))
    return samples
