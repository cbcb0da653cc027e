"""Synthetic test images: grey noise with pure green faces, and how green a box of it is."""
import numpy as np

MEAN = (123.675, 116.28, 103.53)
FILL = np.array([int(round(v)) for v in MEAN], np.uint8)
GREEN = np.array([0, 255, 0], np.uint8)


def scene(height, width, boxes, rng):
    """Grey noise with a pure green block for every box."""
    image = rng.randint(90, 160, (height, width, 3)).astype(np.uint8)
    image[..., 1] = image[..., 0]
    for x1, y1, x2, y2 in np.asarray(boxes, int):
        image[y1:y2, x1:x2] = GREEN
    return image


def greenness(image, box, inset=1.0):
    """Mean green minus mean red/blue inside ``box`` shrunk by ``inset`` pixels (about 255 for a face)."""
    x1, y1, x2, y2 = box
    x1, y1 = int(np.ceil(x1 + inset)), int(np.ceil(y1 + inset))
    x2, y2 = int(np.floor(x2 - inset)), int(np.floor(y2 - inset))
    patch = image[y1:y2, x1:x2].reshape(-1, 3).astype(np.float32)
    return patch[:, 1].mean() - patch[:, [0, 2]].mean()
