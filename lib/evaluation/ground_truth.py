"""The official WIDER FACE val ground truth (wider_face_val.mat + wider_{easy,medium,hard}_val.mat).

``load_ground_truth`` reads the four .mat files into a GroundTruth; every malformed field is a UserError naming
the file and the field. MATLAB cell vectors are accepted in each layout scipy and other writers produce.
"""
import collections
import os

import numpy as np
import scipy.io

from lib.common.errors import UserError

SETTINGS = ('easy', 'medium', 'hard')

GroundTruth = collections.namedtuple('GroundTruth', ['images', 'boxes', 'counted'])
GroundTruth.__doc__ = """Validation ground truth, one entry per image in the .mat order.

images: list of (event, image name); boxes: list of float64 [M, 4] arrays (x, y, w, h);
counted: {setting: list of bool [M] arrays}, True for faces in that setting's gt_list.
"""

def _cells(value):
    """Elements of a MATLAB cell vector as a list, whether loadmat kept it as an (n, 1) / (1, n) object array,
    as a char array of names, or a writer squeezed a one-element cell down to its content."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel(order='F'))
    if isinstance(value, np.ndarray) and value.dtype.kind == 'U' and value.ndim > 0:
        return [str(name) for name in value.ravel(order='F')]
    return [value]


def _unwrap(value):
    """Strip one-element cell wrappers around a cell's content."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.ravel()[0]
    return value


def _text(value):
    """A cell holding a name -> str."""
    value = _unwrap(value)
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ''
    return str(value).strip()


def _cell_vector(value, count, mat_path, field):
    """The ``count`` elements of a cell vector; a lone element may have been stored without its cell."""
    items = _cells(value)
    if len(items) != count and count == 1:
        items = [value]
    if len(items) != count:
        raise UserError('%s: has %d entries where %d were expected; the .mat files do not match each other'
                        % (where(mat_path, field=field), len(items), count))
    return items


def _face_boxes(value, mat_path, field):
    """A cell of face boxes -> float64 [M, 4] (x, y, w, h); accepts (M, 4), a squeezed (4,), or empty."""
    boxes = np.asarray(_unwrap(value), dtype=np.float64)
    if boxes.size % 4:
        raise UserError('%s: %d numbers is not a list of x y w h boxes' % (where(mat_path, field=field), boxes.size))
    return boxes.reshape(-1, 4)


def _counted_mask(value, num_faces, mat_path, field):
    """A gt_list cell (1-based face indices, any integer dtype or shape) -> bool [num_faces]."""
    index = np.asarray(_unwrap(value)).ravel()
    if index.size and (np.any(index != np.round(index)) or index.min() < 1 or index.max() > num_faces):
        raise UserError('%s: face indices %s must be integers in 1..%d (1-based)'
                        % (where(mat_path, field=field), index.tolist(), num_faces))
    mask = np.zeros(num_faces, dtype=bool)
    mask[index.astype(np.int64) - 1] = True
    return mask


def _load_mat(path, names):
    """The named variables of a .mat file; a UserError when it is missing, unreadable or lacks one."""
    if not os.path.isfile(path):
        raise UserError('ground truth file not found: %s; pass --gt=DIR with wider_face_val.mat and '
                        'wider_{easy,medium,hard}_val.mat' % path)
    try:
        mat = scipy.io.loadmat(path, variable_names=list(names))
    except Exception as err:  # scipy raises several types for corrupt files
        raise UserError('cannot read %s as a MATLAB .mat file: %s' % (path, err))
    missing = [name for name in names if name not in mat]
    if missing:
        raise UserError('%s lacks %s; expected the WIDER FACE evaluation ground truth' % (path, ', '.join(missing)))
    return mat


def _image_names(mat, mat_path):
    """[(event, [image names])] from event_list / file_list."""
    events = [_text(event) for event in _cells(mat['event_list'])]
    files = _cell_vector(mat['file_list'], len(events), mat_path, 'file_list')
    return [(event, [_text(name) for name in _cells(names)]) for event, names in zip(events, files)]


def val_images(mat_path):
    """[(event, image name)] of wider_face_val.mat (event_list, file_list), in its order."""
    layout = _image_names(_load_mat(mat_path, ['event_list', 'file_list']), mat_path)
    return [(event, name) for event, names in layout for name in names]


def load_ground_truth(gt_dir):
    """Read wider_face_val.mat (names, boxes) and wider_{easy,medium,hard}_val.mat (gt_list) into a GroundTruth."""
    face_path = os.path.join(gt_dir, 'wider_face_val.mat')
    face_mat = _load_mat(face_path, ['event_list', 'file_list', 'face_bbx_list'])
    layout = _image_names(face_mat, face_path)
    box_cells = _cell_vector(face_mat['face_bbx_list'], len(layout), face_path, 'face_bbx_list')
    images, boxes = [], []
    for (event, names), event_boxes in zip(layout, box_cells):
        field = 'face_bbx_list of %s' % event
        images.extend((event, name) for name in names)
        boxes.extend(_face_boxes(cell, face_path, field)
                     for cell in _cell_vector(event_boxes, len(names), face_path, field))
    counted = {setting: _load_counted(gt_dir, setting, layout, boxes) for setting in SETTINGS}
    return GroundTruth(images, boxes, counted)


def restrict_ground_truth(gt, images):
    """``gt`` limited to ``images`` ((event, name) pairs), in gt order: scores a run over part of the set
    without counting the faces of the images not run as missed."""
    wanted = set(images)
    keep = [i for i, image in enumerate(gt.images) if image in wanted]
    return GroundTruth([gt.images[i] for i in keep], [gt.boxes[i] for i in keep],
                       {setting: [masks[i] for i in keep] for setting, masks in gt.counted.items()})


def _load_counted(gt_dir, setting, layout, boxes):
    """One setting's gt_list as bool masks over each image's faces, checked against the main file's layout."""
    path = os.path.join(gt_dir, 'wider_%s_val.mat' % setting)
    mat = _load_mat(path, ['event_list', 'file_list', 'gt_list'])
    if _image_names(mat, path) != layout:
        raise UserError('%s lists other events or images than wider_face_val.mat; use files from one release'
                        % path)
    index_cells = _cell_vector(mat['gt_list'], len(layout), path, 'gt_list')
    image_boxes = iter(boxes)
    masks = []
    for (event, names), event_cells in zip(layout, index_cells):
        cells = _cell_vector(event_cells, len(names), path, 'gt_list of %s' % event)
        for name, cell in zip(names, cells):
            field = 'gt_list of %s/%s' % (event, name)
            masks.append(_counted_mask(cell, len(next(image_boxes)), path, field))
    return masks
