"""The FDDB layout: fold lists and ellipse annotation lists, strictly parsed and written.

``FDDB-folds/FDDB-fold-XX.txt`` lists image names without extension (``2002/08/11/big/img_591``), relative to
the image folder (``originalPics``). ``FDDB-fold-XX-ellipseList.txt`` holds, per image: its name, a face count,
then ``major_axis_radius minor_axis_radius angle center_x center_y 1`` lines (the angle in radians, of the major
axis from the x axis). Every malformed input is a UserError naming the file and line.
"""
import collections
import os
import re

import numpy as np

from lib.common.errors import UserError, where
from lib.common.io import read_text_lines

ELLIPSE_FIELDS = ('major_axis_radius', 'minor_axis_radius', 'angle', 'center_x', 'center_y')
IMAGE_EXT = '.jpg'
_FOLD_LIST = re.compile(r'^FDDB-fold-(\d+)\.txt$')

# One fold: its number as written in the file names ('01'), its image-list and ellipse-list paths.
Fold = collections.namedtuple('Fold', 'number list_path ellipse_path')


def fold_name(number):
    """Fold ``number`` (1-based) -> '01'."""
    return '%02d' % number


def fold_paths(split_dir, number):
    """(image list, ellipse list) of fold ``number`` ('01') under a FDDB-folds folder."""
    return (os.path.join(split_dir, 'FDDB-fold-%s.txt' % number),
            os.path.join(split_dir, 'FDDB-fold-%s-ellipseList.txt' % number))


def list_folds(split_dir):
    """The folds of a FDDB-folds folder, sorted; a folder without any fold list is a UserError."""
    if not os.path.isdir(split_dir):
        raise UserError('--split_dir=%s is not a folder; expected the FDDB-folds folder' % split_dir)
    numbers = sorted(m.group(1) for m in map(_FOLD_LIST.match, os.listdir(split_dir)) if m)
    if not numbers:
        raise UserError('%s holds no FDDB-fold-XX.txt image list; expected the FDDB-folds folder' % split_dir)
    return [Fold(n, *fold_paths(split_dir, n)) for n in numbers]


def read_fold_list(path):
    """The image names of a fold list, in order (blank lines skipped)."""
    if not os.path.isfile(path):
        raise UserError('%s: no such fold list' % path)
    return [line.strip() for line in read_text_lines(path) if line.strip()]


def _count(path, number, text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UserError('%s: expected a face count (an integer >= 0), got %r' % (where(path, number), text))
    return value


def read_ellipse_list(path):
    """{image name: float64 [N, 5] ellipses in ELLIPSE_FIELDS order}, in file order."""
    if not os.path.isfile(path):
        raise UserError('%s: no such ellipse list' % path)
    lines = [(number, line.strip()) for number, line in enumerate(read_text_lines(path), 1) if line.strip()]
    out = collections.OrderedDict()
    index = 0
    while index < len(lines):
        number, name = lines[index]
        if index + 1 >= len(lines):
            raise UserError('%s: image %s has no face count line' % (where(path, number), name))
        count = _count(path, *lines[index + 1])
        rows = lines[index + 2:index + 2 + count]
        if len(rows) < count:
            raise UserError('%s: image %s announces %d faces, the file ends after %d'
                            % (where(path, number), name, count, len(rows)))
        ellipses = np.zeros((count, 5), np.float64)
        for k, (row_number, row) in enumerate(rows):
            tokens = row.split()
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                values = []
            if len(values) not in (5, 6):
                raise UserError('%s: expected "%s 1", got %r' % (where(path, row_number), ' '.join(ELLIPSE_FIELDS),
                                                                 row))
            ellipses[k] = values[:5]
        if name in out:
            raise UserError('%s: image %s is listed twice' % (where(path, number), name))
        out[name] = ellipses
        index += 2 + count
    return out


def format_ellipse_list(images):
    """Ellipse-list text of ``images`` [(name, [N, 5] ellipses)]."""
    lines = []
    for name, ellipses in images:
        lines += [name, str(len(ellipses))]
        lines += ['%.6f %.6f %.6f %.6f %.6f 1' % tuple(e) for e in np.asarray(ellipses, np.float64).reshape(-1, 5)]
    return '\n'.join(lines) + '\n'


def image_path(image_dir, name):
    """The image file of a fold-list name."""
    return os.path.join(image_dir, name + IMAGE_EXT)
