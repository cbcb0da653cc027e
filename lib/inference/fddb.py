"""Run a FaceDetector over the FDDB folds and write one detection file per fold (tools/fddb.py).

The protocol is the parent project's (610265158/DSFD-tensorflow, model_eval/fddb.py): the image at its own size
(scores >= 0.05) plus its mirror (scores >= 0.01), merged by its box voting (inclusive-pixel IoU >= 0.3, boxes
no other pass confirms dropped), the best ``max_boxes`` kept.
"""
import time

import numpy as np
from tqdm import tqdm

from lib.common.errors import UserError
from lib.common.image import read_image
from lib.common.io import write_text
from lib.data.fddb import image_path, read_fold_list
from lib.evaluation.fddb import detection_file, format_detections
from lib.inference.wider import VOTE_IOU, box_vote, detect_scaled

SCORE = 0.05       # the parent's score threshold of the plain pass ...
FLIP_SCORE = 0.01  # ... and of the mirrored one
MAX_BOXES = 750


def detect_fddb(detector, image, max_boxes=MAX_BOXES):
    """[K, 5] (x1, y1, x2, y2, score) of one RGB image under the parent's FDDB protocol, best first."""
    plain = detect_scaled(detector, image, 1., SCORE)
    mirrored = detect_scaled(detector, image, 1., FLIP_SCORE, flip=True)
    return box_vote(np.concatenate([plain, mirrored], axis=0), VOTE_IOU, max_boxes, keep_single=False, pixel=1.)


def run_fddb(detector, folds, image_dir, result_dir, max_boxes=MAX_BOXES, progress=True):
    """Detect every image of ``folds`` [Fold] and write each fold's detection file (atomically, once the fold is
    done); an unreadable image stops the run with its path. Returns (images, seconds)."""
    lists = [(fold, read_fold_list(fold.list_path)) for fold in folds]
    start = time.time()
    bar = tqdm(total=sum(len(names) for _, names in lists), unit='img', desc='detect', disable=not progress)
    for fold, names in lists:
        parts = []
        for name in names:
            path = image_path(image_dir, name)
            image = read_image(path)
            if image is None:
                raise UserError('%s (listed in %s) is missing or not an image; --data_dir must be the folder the '
                                'fold lists are relative to (originalPics)' % (path, fold.list_path))
            parts.append(format_detections(name, detect_fddb(detector, image, max_boxes)))
            bar.update(1)
        write_text(detection_file(result_dir, fold.number), ''.join(parts))
    bar.close()
    return sum(len(names) for _, names in lists), time.time() - start
