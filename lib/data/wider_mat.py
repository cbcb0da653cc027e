"""WIDER FACE evaluation ground truth (``wider_face_val.mat``, ``wider_{easy,medium,hard}_val.mat``) written
so that ``scipy.io.loadmat`` returns the same keys, dtypes and nesting as the official files:

- every ``*_list`` is an (E, 1) object cell, one entry per event (events sorted by name);
- ``event_list[e, 0]`` is the event name, ``file_list[e, 0]`` an (n, 1) cell of file names without ``.jpg``;
- ``face_bbx_list[e, 0][i, 0]`` is int32 [k, 4] x, y, w, h (an image without faces has one all-zero row);
- each label list holds uint8 [k, 1];
- ``gt_list`` (subsets only) holds the 1-based indices of the faces the subset evaluates: uint8 [m, 1]
  (uint16 once an index exceeds 255); empty is [0, 1], or [0, 0] for a single-row image (MATLAB's ``find``).
"""
import io
import os

import numpy as np
import scipy.io as sio

from lib.data.wider import LABEL_FIELDS
from lib.common.io import atomic_path

SUBSETS = ('easy', 'medium', 'hard')
# Subset rules on the box height h and the labels (WIDER derives its subsets from detection difficulty; these
# nested rules mimic them): every subset needs a valid face; hard: h >= 10; medium: h >= 20 and at most
# partial occlusion; easy: h >= 40, no occlusion, no blur.
SUBSET_MIN_HEIGHT = {'easy': 40, 'medium': 20, 'hard': 10}
HEADER = b'MATLAB 5.0 MAT-file, Platform: GLNXA64, Created by: Pruned DSFD synthetic WIDER generator'


def subset_mask(subset, boxes, labels):
    """Which faces (rows of boxes [k, 4] x, y, w, h / labels [k, 6]) the subset evaluates."""
    col = {name: labels[:, i] for i, name in enumerate(LABEL_FIELDS)}
    keep = (col['invalid'] == 0) & (boxes[:, 3] >= SUBSET_MIN_HEIGHT[subset]) & (boxes[:, 2] > 0)
    if subset == 'medium':
        keep &= col['occlusion'] <= 1
    elif subset == 'easy':
        keep &= (col['occlusion'] == 0) & (col['blur'] == 0)
    return keep


def _cell(items):
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


def _gt_indices(mask):
    index = np.flatnonzero(mask) + 1
    dtype = np.uint8 if index.size == 0 or index.max() <= 255 else np.uint16
    shape = (0, 0) if index.size == 0 and mask.size == 1 else (-1, 1)
    return index.astype(dtype).reshape(shape)


def _image_tables(image):
    """(boxes int32 [k, 4], labels uint8 [k, 6]) with WIDER's one all-zero row for an image without faces."""
    if len(image.boxes) == 0:
        return np.zeros((1, 4), np.int32), np.zeros((1, len(LABEL_FIELDS)), np.uint8)
    return image.boxes.astype(np.int32), image.labels.astype(np.uint8)


def ground_truth_dicts(images):
    """The four .mat contents {file stem: {key: cell}} for a list of WiderImage named ``event/file.jpg``."""
    events = sorted({image.name.split('/')[0] for image in images})
    by_event = {event: [im for im in images if im.name.split('/')[0] == event] for event in events}
    tables = {event: [_image_tables(im) for im in by_event[event]] for event in events}
    base = {
        'event_list': _cell(events),
        'file_list': _cell([_cell([os.path.splitext(im.name.split('/', 1)[1])[0] for im in by_event[event]])
                            for event in events]),
        'face_bbx_list': _cell([_cell([boxes for boxes, _ in tables[event]]) for event in events]),
    }
    for i, field in enumerate(LABEL_FIELDS):
        base['%s_label_list' % field] = _cell([_cell([labels[:, i:i + 1] for _, labels in tables[event]])
                                               for event in events])
    out = {'wider_face_val': base}
    for subset in SUBSETS:
        gt = _cell([_cell([_gt_indices(subset_mask(subset, boxes, labels)) for boxes, labels in tables[event]])
                    for event in events])
        out['wider_%s_val' % subset] = dict(base, gt_list=gt)
    return out


def _mat_bytes(content):
    """MAT-5 bytes with a fixed header text (scipy stamps the time there), so equal input gives equal bytes."""
    buf = io.BytesIO()
    sio.savemat(buf, dict(sorted(content.items())), do_compression=True, oned_as='column')
    raw = bytearray(buf.getvalue())
    raw[:116] = HEADER.ljust(116)
    return bytes(raw)


def write_ground_truth(gt_dir, images):
    """Write wider_face_val.mat and wider_{easy,medium,hard}_val.mat for ``images`` into gt_dir."""
    for stem, content in ground_truth_dicts(images).items():
        with atomic_path(os.path.join(gt_dir, stem + '.mat')) as tmp:
            with open(tmp, 'wb') as f:
                f.write(_mat_bytes(content))
