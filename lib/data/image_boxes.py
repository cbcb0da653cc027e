"""Ground-truth face boxes per image, from a sample list (``val.txt``) or a WIDER root, keyed by the image's
real path: what ``tools/vis.py --gt`` and the demo's picture draw beside the detections."""
import os

import numpy as np

from lib.common.errors import UserError
from lib.data.sample_list import read_sample_list
from lib.data.wider import SPLITS, parse_annotations, split_paths


def _key(path):
    return os.path.realpath(path)


def ground_truth_boxes(source):
    """{real image path: float32 [N, 4] x1, y1, x2, y2} from a sample list file, or from every split's
    annotation file under a WIDER root (every face listed, as the annotation has it)."""
    if os.path.isfile(source):
        return {_key(path): boxes for path, boxes in read_sample_list(source)}
    if not os.path.isdir(source):
        raise UserError('--gt %s: expected a sample list (e.g. data/val.txt) or a WIDER root, found neither'
                        % source)
    found = {}
    for split in SPLITS:
        ann_path, image_dir = split_paths(source, split)
        if not os.path.isfile(ann_path):
            continue
        for image in parse_annotations(ann_path):
            x, y, w, h = [image.boxes[:, i].astype(np.float32) for i in range(4)]
            found[_key(os.path.join(image_dir, image.name))] = np.stack([x, y, x + w, y + h], axis=1)
    if not found:
        raise UserError('--gt %s: a folder without wider_face_split/wider_face_{train,val}_bbx_gt.txt; expected '
                        'a WIDER root or a sample list' % source)
    return found
