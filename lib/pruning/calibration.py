"""Images (and boxes) for channel selection and sensitivity runs: val images from a sample list or a folder.

Images are read as RGB and resized (stretched) to the network input size, boxes scaled alike: enough to see
which channels ever fire and to compare val losses, without the training loader's augmentation.
"""
import os

import cv2
import numpy as np

from lib.data.loader import read_image
from lib.data.sample_list import read_sample_list
from lib.helper.errors import UserError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def _resolve(path, list_path):
    """A sample-list path as written, else relative to the list's folder."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(list_path)), path)


def calibration_samples(source, count):
    """The first ``count`` [(image path, boxes [N, 4])] of a sample list, or of a folder's images (no boxes)."""
    if source and os.path.isdir(source):
        paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(source)
                       for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
        samples = [(path, np.zeros((0, 4), np.float32)) for path in paths]
    elif source and os.path.isfile(source):
        samples = [(_resolve(path, source), boxes) for path, boxes in read_sample_list(source)]
    else:
        raise UserError('calibration/val images: %r is neither a sample list (val.txt) nor a folder of images; '
                        'set it in mac_config.py or pass --calib_source' % (source,))
    if not samples:
        raise UserError('no images found in %s (expected %s files)' % (source, '/'.join(IMAGE_EXTENSIONS)))
    return samples[:count]


def load_resized(path, boxes, input_size):
    """(RGB uint8 [H, W, 3] resized to input_size (H, W), boxes [N, 4] scaled to it)."""
    image = read_image(path)
    if image is None:
        raise UserError('cannot read image %s (missing or not an image)' % path)
    height, width = input_size
    scale = np.array([width / float(image.shape[1]), height / float(image.shape[0])] * 2, np.float32)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized, np.asarray(boxes, np.float32).reshape(-1, 4) * scale


def calibration_images(source, count, input_size):
    """Generator of RGB images [H, W, 3] (resized to input_size) for the activation criterion."""
    for path, boxes in calibration_samples(source, count):
        yield load_resized(path, boxes, input_size)[0]
