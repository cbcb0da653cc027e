"""Draw detections (x1, y1, x2, y2, score) on an image for a quick visual check (tools/vis.py)."""
import os
import sys

import cv2
import numpy as np

from lib.common.io import atomic_path

BOX_COLOR = (0, 255, 0)  # in the image's own channel order (green either way)


def draw_detections(image, detections):
    """A copy of ``image`` with each box outlined and its score written above it."""
    canvas = np.ascontiguousarray(image).copy()
    thickness = max(1, int(round(min(canvas.shape[:2]) / 300.)))
    for x1, y1, x2, y2, score in np.asarray(detections, np.float64).reshape(-1, 5):
        top_left, bottom_right = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(canvas, top_left, bottom_right, BOX_COLOR, thickness)
        cv2.putText(canvas, '%.2f' % score, (top_left[0], max(10, top_left[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, BOX_COLOR, thickness)
    return canvas


def write_rgb_image(path, image):
    """Encode an RGB image by the extension of ``path`` and write it atomically."""
    ok, encoded = cv2.imencode(os.path.splitext(path)[1] or '.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
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
