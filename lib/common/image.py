"""Images in and out of the network: reading, the one letterbox, resizing, batching.

Images are RGB [H, W, 3] (uint8, or float 0..255 at inference); boxes float32 [N, 4] x1, y1, x2, y2 in pixel-edge
coordinates (a box covering pixel columns 0..9 is x1=0, x2=10). Every geometric step maps a window of the source
image to the top-left of the network input: ``input = (source - window origin) * scale`` per axis. The window may
leave the image (filled with the pixel mean) and is resampled by one warpAffine (after an INTER_AREA pre-shrink
when shrinking by more than 2x), so boxes and pixels move by exactly the same map. The letterbox keeps the aspect
ratio and pads right and bottom with the pixel mean; ``Letterbox.to_original`` inverts it exactly. Training,
validation, calibration and FaceDetector all go through it.
"""
import collections
import logging
import math
import os
import struct

import cv2
import numpy as np

from lib.common.errors import UserError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
STRIDE = 32  # the network's largest stride: input sides are multiples of it
# The largest image read by default (width x height from its header): 100 megapixels, 300 MB decoded, far above
# WIDER FACE's largest image (1024 wide, under 3 megapixels); --max_image_pixels raises it.
MAX_IMAGE_PIXELS = 100 * 1000 * 1000
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): their segment holds the image size.
JPEG_FRAME_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)

log = logging.getLogger(__name__)


def is_image_file(path):
    """True for a path whose extension is one of IMAGE_EXTENSIONS (case-insensitive)."""
    return path.lower().endswith(IMAGE_EXTENSIONS)


def image_files(folder):
    """Every image file under ``folder`` (recursively), sorted."""
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                  if is_image_file(name))


def header_size(data):
    """(width, height) that a JPEG, PNG or BMP header (bytes) declares, None for another or a broken header.

    Read before decoding, so that a small file claiming a huge image is refused without allocating it (OpenCV's
    own OPENCV_IO_MAX_IMAGE_PIXELS is read once per process, 2**30 by default, and cannot follow a flag)."""
    data = bytes(data[:1 << 20])  # SOF follows the APP segments (each < 64 KB)
    if data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR':
        return struct.unpack('>II', data[16:24])
    if data[:2] == b'BM' and len(data) >= 26:
        width, height = struct.unpack('<ii', data[18:26])
        return abs(width), abs(height)
    if data[:2] != b'\xff\xd8':
        return None
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in JPEG_FRAME_MARKERS:
            height, width = struct.unpack('>HH', data[pos + 5:pos + 9])
            return width, height
        pos += 2 if 0xD0 <= marker <= 0xD8 or marker == 0x01 else 2 + struct.unpack('>H', data[pos + 2:pos + 4])[0]
    return None


def read_image(path, max_image_pixels=MAX_IMAGE_PIXELS):
    """RGB uint8 [H, W, 3], or None when the file is missing, unreadable, not an image or (its header says) larger
    than ``max_image_pixels`` (a warning names the file, its size and the --max_image_pixels flag that raises it)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (IOError, OSError, ValueError):
        return None
    size = header_size(data)
    if size and size[0] * size[1] > max_image_pixels:
        log.warning('%s: its header says %d x %d = %s pixels, above --max_image_pixels %s; skipped like an '
                    'unreadable image (raise the flag to read it)', path, size[0], size[1],
                    '{:,}'.format(size[0] * size[1]), '{:,}'.format(max_image_pixels))
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def round_up(value, multiple=STRIDE):
    """``value`` rounded up to a positive multiple of ``multiple``."""
    return max(multiple, -(-int(value) // multiple) * multiple)


def check_input_size(size, field='input_size', sides=None):
    """(height, width) as ints, both positive multiples of 32; else a UserError naming ``field`` (or, given
    ``sides``, the two field names of height and width, the failing one)."""
    try:
        height, width = size
    except (TypeError, ValueError):
        raise UserError('%s = %r: expected (height, width), positive multiples of %d' % (field, size, STRIDE))
    for index, value in enumerate((height, width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 < value < 2 ** 31 or \
                value % STRIDE:  # (TF's shapes are int32 in the graphs)
            if sides:
                raise UserError('%s = %r: expected a positive multiple of %d' % (sides[index], value, STRIDE))
            raise UserError('%s = %r: expected (height, width), positive multiples of %d' % (field, size, STRIDE))
    return int(height), int(width)


def resize_image(image, scale_y, scale_x=None):
    """``image`` resized by (scale_y, scale_x) (rounded, at least one pixel); returns (image, actual scales).
    Area averaging when shrinking, bilinear when enlarging."""
    scale_x = scale_y if scale_x is None else scale_x
    height, width = image.shape[:2]
    new_h, new_w = max(1, int(round(height * scale_y))), max(1, int(round(width * scale_x)))
    if (new_h, new_w) == (height, width):
        return image, (1., 1.)
    shrinking = new_h * new_w < height * width
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return resized, (new_h / float(height), new_w / float(width))


class Letterbox(collections.namedtuple('Letterbox', 'scale_x scale_y')):
    """Input pixels = original pixels * (scale_x, scale_y); the content sits at the top-left."""

    def _scale(self):
        return np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], np.float32)

    def to_input(self, boxes):
        return np.asarray(boxes, np.float32).reshape(-1, 4) * self._scale()

    def to_original(self, boxes):
        return np.asarray(boxes, np.float32).reshape(-1, 4) / self._scale()


def fit_scale(width, height, input_size):
    """The Letterbox that fits a width x height window into input_size (h, w) with whole-pixel content size."""
    s = min(input_size[0] / float(height), input_size[1] / float(width))
    new_w = min(input_size[1], max(1, int(round(width * s))))
    new_h = min(input_size[0], max(1, int(round(height * s))))
    return Letterbox(new_w / float(width), new_h / float(height))


def _fill(pixel_mean, dtype):
    values = np.asarray(pixel_mean, np.float64)
    return np.round(values).astype(dtype) if np.issubdtype(dtype, np.integer) else values.astype(dtype)


def render_window(image, window, scale, input_size, pixel_mean):
    """Resample ``window`` (x0, y0, x1, y1, source pixels, may leave the image) at ``scale`` into the top-left of
    an input_size (h, w) canvas of the image's dtype; everything else, and window parts outside the image, is
    pixel_mean."""
    x0, y0, x1, y1 = window
    sx, sy = scale
    in_h, in_w = input_size
    fill = _fill(pixel_mean, image.dtype)
    row = np.tile(fill, (in_w, 1))  # filling row-wise is ~100x faster than a tuple
    out = np.empty((in_h, in_w, 3), image.dtype)
    valid_w = min(in_w, int(round((x1 - x0) * sx)))
    valid_h = min(in_h, int(round((y1 - y0) * sy)))
    height, width = image.shape[:2]
    ix0, iy0 = max(0, int(math.floor(x0)) - 1), max(0, int(math.floor(y0)) - 1)  # 1 px margin for interpolation
    ix1, iy1 = min(width, int(math.ceil(x1)) + 1), min(height, int(math.ceil(y1)) + 1)
    if ix1 <= ix0 or iy1 <= iy0 or valid_w <= 0 or valid_h <= 0:
        out[:] = row
        return out
    sub = image[iy0:iy1, ix0:ix1]
    ax, ay = sx, sy
    if min(sx, sy) < 0.5:  # warpAffine aliases when shrinking a lot: pre-shrink with area averaging
        new_w = max(1, int(round(sub.shape[1] * sx)))
        new_h = max(1, int(round(sub.shape[0] * sy)))
        ax, ay = sx * sub.shape[1] / new_w, sy * sub.shape[0] / new_h
        sub = cv2.resize(sub, (new_w, new_h), interpolation=cv2.INTER_AREA)
    bx, by = (ix0 - x0) * sx, (iy0 - y0) * sy
    # edge mapping u = a * x + b becomes u = a * x + b + (a - 1) / 2 between pixel centres
    matrix = np.array([[ax, 0, bx + 0.5 * ax - 0.5], [0, ay, by + 0.5 * ay - 0.5]], np.float64)
    out[:valid_h, :valid_w] = cv2.warpAffine(sub, matrix, (valid_w, valid_h), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_CONSTANT,
                                             borderValue=tuple(float(v) for v in fill))
    out[valid_h:] = row
    out[:valid_h, valid_w:] = row[valid_w:]
    return out


def letterbox(image, input_size, pixel_mean, boxes=None):
    """Fit the whole image into input_size (h, w), aspect kept, padded right/bottom with pixel_mean.
    Returns (input image, boxes in input pixels or None, Letterbox). Boxes are mapped, never dropped."""
    height, width = image.shape[:2]
    lb = fit_scale(width, height, input_size)
    out = render_window(image, (0, 0, width, height), lb, input_size, pixel_mean)
    return out, (None if boxes is None else lb.to_input(boxes)), lb


def batch_images(images, pixel_mean, input_size=None):
    """Several RGB images as one network batch: (batch [N, H, W, 3], [Letterbox of each image]).

    With ``input_size`` each image is letterboxed into it; without, each is padded (right and bottom, with
    pixel_mean) to the largest image's size rounded up to multiples of 32, unscaled.
    """
    if input_size is not None:
        fitted = [letterbox(image, input_size, pixel_mean) for image in images]
        return np.stack([out for out, _, _ in fitted]), [lb for _, _, lb in fitted]
    size = (round_up(max(im.shape[0] for im in images)), round_up(max(im.shape[1] for im in images)))
    dtype = np.result_type(*[im.dtype for im in images])
    batch = np.empty((len(images),) + size + (3,), dtype)
    batch[...] = _fill(pixel_mean, dtype)
    for i, image in enumerate(images):
        batch[i, :image.shape[0], :image.shape[1]] = image
    return batch, [Letterbox(1., 1.)] * len(images)
