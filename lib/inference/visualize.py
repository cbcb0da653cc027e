"""Draw detections (x1, y1, x2, y2, score) on an image for a quick visual check (tools/vis.py)."""
import os
import sys

import cv2
import numpy as np

from lib.common.io import atomic_path

BOX_COLOR = (0, 255, 0)  # in the image's own channel order (green either way)
GT_COLOR = (255, 0, 0)  # red in an RGB image: the ground truth, drawn under the detections


def _thickness(canvas):
    return max(1, int(round(min(canvas.shape[:2]) / 300.)))


def _rectangle(canvas, box, color, thickness):
    top_left = (int(round(box[0])), int(round(box[1])))
    cv2.rectangle(canvas, top_left, (int(round(box[2])), int(round(box[3]))), color, thickness)
    return top_left


def draw_detections(image, detections, ground_truth=None):
    """A copy of ``image`` with each box outlined and its score written above it; ``ground_truth`` boxes
    ([N, 4] x1, y1, x2, y2), if given, are outlined first in GT_COLOR."""
    canvas = np.ascontiguousarray(image).copy()
    thickness = _thickness(canvas)
    for box in np.asarray(ground_truth if ground_truth is not None else [], np.float64).reshape(-1, 4):
        _rectangle(canvas, box, GT_COLOR, thickness)
    for x1, y1, x2, y2, score in np.asarray(detections, np.float64).reshape(-1, 5):
        top_left = _rectangle(canvas, (x1, y1, x2, y2), BOX_COLOR, thickness)
        cv2.putText(canvas, '%.2f' % score, (top_left[0], max(10, top_left[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, BOX_COLOR, thickness)
    return canvas


def label(image, text):
    """A copy of ``image`` with ``text`` written in white on a black band at its top left."""
    canvas = np.ascontiguousarray(image).copy()
    cv2.rectangle(canvas, (0, 0), (min(canvas.shape[1] - 1, 8 + 9 * len(text)), 18), (0, 0, 0), -1)
    cv2.putText(canvas, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return canvas


def grid(rows, max_width):
    """Images of one size tiled row by row (``rows``: a list of lists), scaled down to at most ``max_width``."""
    canvas = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    if canvas.shape[1] > max_width:
        scale = float(max_width) / canvas.shape[1]
        size = (max_width, max(1, int(round(canvas.shape[0] * scale))))
        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
    return canvas


def write_rgb_image(path, image):
    """Encode an RGB image by the extension of ``path`` and write it atomically."""
    extension = os.path.splitext(path)[1] or '.jpg'
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9] if extension.lower() == '.png' else []  # lossless either way: smallest
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError('cannot encode an image as %s' % path)
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(encoded.tobytes())


def can_open_windows():
    """Whether cv2.imshow can open a window here: an OpenCV built with a GUI and, on Linux, a display."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith('GUI:')]
    if gui and gui[0].split(':', 1)[1].strip().upper() == 'NONE':
        return False
    return not sys.platform.startswith('linux') or bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
