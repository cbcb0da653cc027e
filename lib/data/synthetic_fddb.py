"""A synthetic FDDB: the synthetic WIDER set's drawn faces (lib.data.synthetic) in the FDDB layout.

``originalPics/2002/07/<fold>/big/img_<index>.jpg``, ``FDDB-folds/FDDB-fold-XX.txt`` (image names without
extension) and ``FDDB-fold-XX-ellipseList.txt`` (each face's head ellipse, as drawn). Images are split into
consecutive folds. Every image has its own RandomState seeded by (seed, FDDB_CODE, index): same seed, same bytes.
"""
import os

import numpy as np

from lib.common.io import write_text
from lib.data.fddb import fold_name, fold_paths, format_ellipse_list, image_path
from lib.data.synthetic import render_scene, write_jpeg

FDDB_CODE = 2  # beside the WIDER splits' codes (train 0, val 1): FDDB images are other images
IMAGE_DIR = 'originalPics'
SPLIT_DIR = 'FDDB-folds'


def make_synthetic_fddb(out_dir, num_images, seed=0, folds=10, min_side=250, max_side=450, min_face=20,
                        max_face=250, max_faces=6):
    """Write ``num_images`` synthetic images in ``min(folds, num_images)`` FDDB folds under ``out_dir``; returns
    [(fold number '01', [(name, ellipses [N, 5])])]."""
    if num_images < 1 or folds < 1:
        raise ValueError('need at least one image and one fold')
    image_dir, split_dir = os.path.join(out_dir, IMAGE_DIR), os.path.join(out_dir, SPLIT_DIR)
    out = []
    for k, indices in enumerate(np.array_split(np.arange(num_images), min(folds, num_images))):
        number = fold_name(k + 1)
        images = []
        for index in indices:
            rng = np.random.RandomState([seed, FDDB_CODE, int(index)])
            img, _, _, ellipses = render_scene(rng, min_side, max_side, min_face, max_face, max_faces)
            name = '2002/07/%s/big/img_%d' % (number, index)
            write_jpeg(image_path(image_dir, name), img)
            images.append((name, ellipses))
        list_path, ellipse_path = fold_paths(split_dir, number)
        write_text(list_path, ''.join(name + '\n' for name, _ in images))
        write_text(ellipse_path, format_ellipse_list(images))
        out.append((number, images))
    return out
