"""Images (and boxes) for channel selection and sensitivity runs: val images from a sample list or a folder.

Images are read as RGB and letterboxed into the network input size exactly as validation does (the one
letterbox of lib.common.image, padded with the pixel mean), boxes mapped alike, so the sensitivity "val loss"
is the training val loss and the activation criterion sees what the network sees.
"""
import os

import numpy as np

from lib.common.errors import UserError
from lib.common.image import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, image_files, letterbox, read_image
from lib.data.sample_list import read_sample_list


def _resolve(path, list_path):
    """A sample-list path as written, else relative to the list's folder."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(list_path)), path)


def calibration_samples(source, count):
    """The first ``count`` [(image path, boxes [N, 4])] of a sample list, or of a folder's images (no boxes)."""
    if source and os.path.isdir(source):
        samples = [(path, np.zeros((0, 4), np.float32)) for path in image_files(source)]
    elif source and os.path.isfile(source):
        samples = [(_resolve(path, source), boxes) for path, boxes in read_sample_list(source)]
    else:
        raise UserError('calibration/val images: %r is neither a sample list (val.txt) nor a folder of images; '
                        'set it in mac_config.py or pass --calib_source' % (source,))
    if not samples:
        raise UserError('no images found in %s (expected %s files)' % (source, '/'.join(IMAGE_EXTENSIONS)))
    return samples[:count]


def load_letterboxed(path, boxes, input_size, pixel_mean, max_image_pixels=MAX_IMAGE_PIXELS):
    """(RGB uint8 [H, W, 3] letterboxed into input_size (H, W), boxes [N, 4] mapped into it)."""
    image = read_image(path, max_image_pixels)
    if image is None:
        raise UserError('cannot read image %s (missing, not an image, or above --max_image_pixels %d)'
                        % (path, max_image_pixels))
    out, mapped, _ = letterbox(image, input_size, pixel_mean, np.asarray(boxes, np.float32).reshape(-1, 4))
    return out, mapped


def calibration_images(source, count, input_size, pixel_mean, max_image_pixels=MAX_IMAGE_PIXELS):
    """Generator of RGB images [H, W, 3] (letterboxed into input_size) for the activation criterion."""
    for path, boxes in calibration_samples(source, count):
        yield load_letterboxed(path, boxes, input_size, pixel_mean, max_image_pixels)[0]
