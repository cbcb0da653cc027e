"""A synthetic WIDER FACE: drawn faces on cluttered scenes, written in the exact WIDER layout.

Faces are drawn, never copied: a skin-toned head ellipse with hair, brows, eyes, nose and mouth, at random
size, aspect, in-plane rotation, yaw, brightness, blur and occlusion, with neck and shoulders below. Scenes
carry textures and face-like distractors that are NOT faces (plain skin ellipses, circles with dots, backs of
heads), so a detector has to learn the facial features. The ground-truth box frames the head ellipse tightly.
Every image has its own RandomState seeded by (seed, split, index): same seed, same bytes.
"""
import math
import os

import cv2
import numpy as np

from lib.data.wider import LABEL_FIELDS, WiderImage, format_annotations, split_paths
from lib.data.wider_mat import write_ground_truth
from lib.common.io import write_text

EVENTS = ('0--Parade', '1--Handshaking', '2--Demonstration', '4--Dancing', '7--Cheering',
          '9--Press_Conference', '12--Group', '20--Family_Group')
SPLIT_CODES = {'train': 0, 'val': 1}
SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel geometry for small faces
SKIN_LIGHT = np.array([240, 200, 172], np.float32)
SKIN_DARK = np.array([92, 58, 40], np.float32)
HAIR_COLOURS = np.array([[20, 16, 14], [58, 36, 22], [110, 70, 35], [196, 160, 96], [150, 150, 150],
                         [130, 40, 20]], np.float32)
EMPTY_IMAGE_PROB = 0.05
MAX_HIDDEN = 0.8  # a face hidden more than this is not annotated; more than 0.7 is 'invalid'
CROWD_FACES = (150, 400)  # a crowd scene draws this many faces (some end up hidden) ...
CROWD_MAX_FACE = 40  # ... at most this high, like the crowd images of WIDER FACE
_COL = {name: i for i, name in enumerate(LABEL_FIELDS)}


def _fx(value):
    return int(round(value * (1 << SHIFT)))


def _ellipse(img, centre, axes, angle, colour, thickness=-1, line=cv2.LINE_AA):
    cv2.ellipse(img, (_fx(centre[0]), _fx(centre[1])), (max(_fx(axes[0]), 1), max(_fx(axes[1]), 1)),
                float(angle), 0, 360, colour, thickness, line, SHIFT)


def _colour(rgb):
    return tuple(float(c) for c in np.clip(rgb, 0, 255))


def _random_colour(rng, low=0, high=256):
    return _colour(rng.randint(low, high, 3))


class _Face(object):
    """The random parameters of one face; head semi-axes (a, b), rotation in degrees, labels."""

    def __init__(self, rng, height):
        self.b = height / 2.0
        self.a = self.b * rng.uniform(0.72, 0.88)
        strong_pose = rng.rand() < 0.1
        self.angle = float(np.clip(rng.normal(0, 8), -20, 20)) if not strong_pose else \
            float(rng.choice([-1, 1]) * rng.uniform(25, 45))
        self.yaw = rng.uniform(-0.15, 0.15) if rng.rand() < 0.8 else rng.choice([-1, 1]) * rng.uniform(0.2, 0.3)
        self.skin = SKIN_LIGHT + (SKIN_DARK - SKIN_LIGHT) * rng.uniform() + rng.uniform(-10, 10, 3)
        self.hair = HAIR_COLOURS[rng.randint(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
        self.hair_style = rng.choice(['short', 'long', 'bald'], p=[0.55, 0.35, 0.1])
        self.iris = np.array([[60, 35, 20], [40, 80, 130], [50, 90, 50], [25, 20, 18]])[rng.randint(4)]
        self.open_mouth = rng.rand() < 0.15
        illumination = rng.rand() < 0.1
        self.brightness = rng.choice([rng.uniform(0.35, 0.55), rng.uniform(1.45, 1.7)]) if illumination \
            else rng.uniform(0.8, 1.15)
        self.blur = int(rng.choice(3, p=[0.6, 0.28, 0.12]))
        self.labels = np.zeros(len(LABEL_FIELDS), np.int64)
        self.labels[_COL['blur']] = self.blur
        self.labels[_COL['expression']] = self.open_mouth
        self.labels[_COL['illumination']] = illumination
        self.labels[_COL['pose']] = strong_pose or abs(self.yaw) >= 0.2
        t = math.radians(self.angle)
        self.half_w = math.sqrt((self.a * math.cos(t)) ** 2 + (self.b * math.sin(t)) ** 2)
        self.half_h = math.sqrt((self.a * math.sin(t)) ** 2 + (self.b * math.cos(t)) ** 2)

    def sigma(self):
        return (0.0, max(0.5, 0.012 * self.b * 2), max(1.0, 0.03 * self.b * 2))[self.blur]


def _render_face(face, cx, cy):
    """Draw the face into a local patch; returns (x0, y0, colour patch, alpha float32, head mask bool)."""
    radius = 1.3 * max(face.a, face.b) + 3 * face.sigma() + 3
    x0, y0 = int(math.floor(cx - radius)), int(math.floor(cy - radius))
    size = int(math.ceil(2 * radius)) + 2
    lc, ld = cx - x0, cy - y0
    cos, sin = math.cos(math.radians(face.angle)), math.sin(math.radians(face.angle))
    a, b = face.a, face.b

    def at(fx, fy):  # face frame (x right, y down, origin at the head centre) -> patch coordinates
        return lc + fx * cos - fy * sin, ld + fx * sin + fy * cos

    skin = face.skin * face.brightness
    hair = face.hair * face.brightness
    patch = np.zeros((size, size, 3), np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    layers = []
    if face.hair_style == 'long':
        layers.append(((0, 0.2 * b), (1.14 * a, 1.2 * b), hair))
    elif face.hair_style == 'short':
        layers.append(((0, -0.12 * b), (1.08 * a, 1.04 * b), hair))
    layers.append(((0, 0), (a, b), skin))
    for centre, axes, colour in layers:
        _ellipse(patch, at(*centre), axes, face.angle, _colour(colour))
        _ellipse(alpha, at(*centre), axes, face.angle, 255)
    _ellipse(mask, at(0, 0), (a, b), face.angle, 1, line=cv2.LINE_8)
    if face.hair_style != 'bald':  # fringe over the top of the head
        _ellipse(patch, at(0, -0.78 * b), (0.92 * a, 0.36 * b), face.angle, _colour(hair))
    shift = face.yaw * a
    dark = _colour(hair * 0.6)
    for side in (-1, 1):
        ex = side * 0.36 * a + shift
        _ellipse(patch, at(ex, -0.33 * b), (0.22 * a, 0.05 * b), face.angle - side * 6, dark)  # brow
        _ellipse(patch, at(ex, -0.13 * b), (0.19 * a, 0.095 * b), face.angle, _colour([238, 236, 230]))
        _ellipse(patch, at(ex + 0.3 * shift, -0.13 * b), (0.09 * a, 0.09 * a), 0, _colour(face.iris))
        _ellipse(patch, at(ex + 0.3 * shift, -0.13 * b), (0.04 * a, 0.04 * a), 0, (10.0, 10.0, 10.0))
    _ellipse(patch, at(1.25 * shift, 0.12 * b), (0.09 * a, 0.17 * b), face.angle, _colour(skin * 0.78))  # nose
    for side in (-1, 1):
        _ellipse(patch, at(1.25 * shift + side * 0.07 * a, 0.27 * b), (0.04 * a, 0.025 * b), face.angle,
                 _colour(skin * 0.45))
    lips = _colour(skin * 0.5 + np.array([170, 50, 55]) * 0.5 * face.brightness)
    if face.open_mouth:
        _ellipse(patch, at(shift, 0.52 * b), (0.27 * a, 0.16 * b), face.angle, lips)
        _ellipse(patch, at(shift, 0.52 * b), (0.2 * a, 0.1 * b), face.angle, (50.0, 15.0, 20.0))
    else:
        _ellipse(patch, at(shift, 0.52 * b), (0.3 * a, 0.075 * b), face.angle, lips)
        _ellipse(patch, at(shift, 0.52 * b), (0.28 * a, 0.012 * b + 0.3), face.angle, _colour(skin * 0.3))
    sigma = face.sigma()
    alpha = alpha.astype(np.float32) / 255.0
    if sigma > 0:
        patch = cv2.GaussianBlur(patch, (0, 0), sigma)
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    return x0, y0, patch, alpha, mask.astype(bool)


def _body(rng, img, ids, face, cx, cy):
    """Neck and shoulders below a head; they hide whatever smaller face lies behind them."""
    shapes = [((cx, cy + 0.9 * face.b), (0.45 * face.a, 0.6 * face.b), face.angle,
               _colour(face.skin * face.brightness * 0.8)),
              ((cx, cy + 2.1 * face.b), (1.9 * face.a, 1.0 * face.b), face.angle * 0.3, _random_colour(rng))]
    for centre, axes, angle, colour in shapes:
        _ellipse(img, centre, axes, angle, colour)
        _ellipse(ids, centre, axes, angle, -1, line=cv2.LINE_8)


def _paste(canvas, x0, y0, patch, alpha):
    """Alpha-composite a patch at (x0, y0), clipped to the canvas; returns the canvas slices used."""
    h, w = canvas.shape[:2]
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + patch.shape[1], w), min(y0 + patch.shape[0], h)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    sl = (slice(cy0, cy1), slice(cx0, cx1))
    pl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    a = alpha[pl][..., None]
    canvas[sl] = (canvas[sl] * (1 - a) + patch[pl] * a + 0.5).astype(np.uint8)
    return sl, pl


def _background(rng, height, width):
    """Smooth colour field plus clutter: rectangles, lines, circles, polygons, stripes."""
    grid = rng.randint(0, 256, (rng.randint(2, 6), rng.randint(2, 6), 3)).astype(np.uint8)
    img = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    n = int(12 + 40 * height * width / 1e6 * rng.uniform(0.5, 1.5))
    for _ in range(n):
        kind = rng.randint(5)
        p = (int(rng.randint(width)), int(rng.randint(height)))
        q = (int(rng.randint(width)), int(rng.randint(height)))
        colour = _random_colour(rng)
        if kind == 0:
            cv2.rectangle(img, p, q, colour, -1 if rng.rand() < 0.6 else int(rng.randint(1, 6)))
        elif kind == 1:
            cv2.line(img, p, q, colour, int(rng.randint(1, 8)), cv2.LINE_AA)
        elif kind == 2:
            cv2.circle(img, p, int(rng.randint(3, max(4, min(width, height) // 6))), colour,
                       -1 if rng.rand() < 0.5 else int(rng.randint(1, 5)), cv2.LINE_AA)
        elif kind == 3:
            pts = np.stack([rng.randint(width, size=3), rng.randint(height, size=3)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:
            x0, y0 = min(p[0], q[0]), min(p[1], q[1])
            x1, y1 = max(p[0], q[0]), max(p[1], q[1])
            step = int(rng.randint(3, 12))
            for x in range(x0, x1, step):
                cv2.line(img, (x, y0), (x + (y1 - y0) // 3, y1), colour, max(1, step // 3))
    return img


def _distractor(rng, img, size):
    """A face-like shape that is not a face: plain skin ellipse, circle with dots, or a back of a head."""
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    b = size / 2.0
    a = b * rng.uniform(0.7, 1.0)
    kind = rng.randint(3)
    if kind == 0:
        skin = SKIN_LIGHT + (SKIN_DARK - SKIN_LIGHT) * rng.uniform()
        _ellipse(img, (cx, cy), (a, b), rng.uniform(-30, 30), _colour(skin * rng.uniform(0.7, 1.1)))
    elif kind == 1:
        _ellipse(img, (cx, cy), (b, b), 0, _random_colour(rng))
        for _ in range(rng.randint(1, 6)):
            r, t = b * 0.75 * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
            _ellipse(img, (cx + r * math.cos(t), cy + r * math.sin(t)), (b * 0.1, b * 0.1), 0,
                     _random_colour(rng, 0, 80))
    else:
        _ellipse(img, (cx, cy + 2.2 * b), (2.0 * a, 1.2 * b), 0, _random_colour(rng))
        _ellipse(img, (cx, cy), (a * 1.05, b), rng.uniform(-15, 15),
                 _colour(HAIR_COLOURS[rng.randint(len(HAIR_COLOURS))]))


def _place(rng, face, width, height, boxes):
    """Centre for a face fully inside the image whose box overlaps no earlier box by 40% of the smaller one's
    area (a larger, nearer face may still hide an earlier one partly), or None."""
    for _ in range(20):
        if boxes and rng.rand() < 0.15:  # deliberately overlap a neighbour
            bx = boxes[rng.randint(len(boxes))]
            reach = (bx[2] - bx[0] + 2 * face.half_w) / 2
            cx = (bx[0] + bx[2]) / 2 + rng.choice([-1, 1]) * rng.uniform(0.5, 0.9) * reach
            cy = (bx[1] + bx[3]) / 2 + rng.uniform(-0.3, 0.3) * (bx[3] - bx[1])
        else:
            cx = rng.uniform(face.half_w + 1, width - face.half_w - 1)
            cy = rng.uniform(face.half_h + 1, height - face.half_h - 1)
        box = (cx - face.half_w, cy - face.half_h, cx + face.half_w, cy + face.half_h)
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            continue
        if all(_overlap(box, other) < 0.4 for other in boxes):
            return cx, cy
    return None


def _overlap(p, q):
    """Intersection over the smaller box's area."""
    iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    return iw * ih / min((p[2] - p[0]) * (p[3] - p[1]), (q[2] - q[0]) * (q[3] - q[1]))


def _occluder(rng, img, ids, box):
    """Cover part of a face from one side with a solid or striped block (a hand, a sign, a shoulder)."""
    x0, y0, x1, y1 = box
    frac = rng.uniform(0.2, 0.85)
    side = rng.randint(3)
    if side == 0:
        rect = (x0 - 2, y0 - 2, x0 + frac * (x1 - x0), y1 + 2)
    elif side == 1:
        rect = (x1 - frac * (x1 - x0), y0 - 2, x1 + 2, y1 + 2)
    else:
        rect = (x0 - 2, y1 - frac * (y1 - y0), x1 + 2, y1 + 2)
    p, q = (int(rect[0]), int(rect[1])), (int(math.ceil(rect[2])), int(math.ceil(rect[3])))
    cv2.rectangle(img, p, q, _random_colour(rng), -1)
    if rng.rand() < 0.5:
        step = max(2, (q[1] - p[1]) // 5)
        for y in range(p[1], q[1], step):
            cv2.line(img, (p[0], y), (q[0], y), _random_colour(rng), max(1, step // 3))
    cv2.rectangle(ids, p, q, -1, -1)


def _draw_faces(rng, img, ids, faces):
    """Draw faces (each with its body) smallest first: nearer, larger ones may cover them. ``ids`` records which
    face (or -1: anything else) each pixel shows. Returns [(face, head box x1, y1, x2, y2, head area, centre)]."""
    height, width = img.shape[:2]
    placed = []
    for face in sorted(faces, key=lambda f: f.b):
        centre = _place(rng, face, width, height, [p[1] for p in placed])
        if centre is None:
            continue
        _body(rng, img, ids, face, centre[0], centre[1])
        x0, y0, patch, alpha, mask = _render_face(face, centre[0], centre[1])
        used = _paste(img, x0, y0, patch, alpha)
        if used is not None:
            region = ids[used[0]]
            region[alpha[used[1]] > 0.5] = -1
            region[mask[used[1]]] = len(placed)
        ys, xs = np.nonzero(mask)
        placed.append((face, (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1), int(mask.sum()),
                       centre))
    return placed


def _annotate(placed, ids):
    """WIDER boxes (x, y, w, h), labels and FDDB ellipses (major and minor semi-axis, angle of the major axis in
    radians, centre x, y) of the drawn faces; occlusion measured from what stays visible."""
    boxes, labels, ellipses = [], [], []
    for k, (face, box, area, centre) in enumerate(placed):
        x0, y0, x1, y1 = [int(v) for v in box]
        occluded = 1.0 - np.count_nonzero(ids[y0:y1, x0:x1] == k) / float(area)
        if occluded > MAX_HIDDEN:
            continue
        row = face.labels.copy()
        row[_COL['occlusion']] = 0 if occluded < 0.1 else (1 if occluded < 0.4 else 2)
        row[_COL['invalid']] = occluded > 0.7
        boxes.append((x0, y0, x1 - x0, y1 - y0))
        labels.append(row)
        ellipses.append((face.b, face.a, math.radians(face.angle + 90.), centre[0], centre[1]))  # b: the long axis
    return (np.array(boxes, np.int64).reshape(-1, 4), np.array(labels, np.int64).reshape(-1, len(LABEL_FIELDS)),
            np.array(ellipses, np.float64).reshape(-1, 5))


def render_image(rng, min_side=320, max_side=1024, min_face=8, max_face=300, max_faces=12, crowd=False):
    """One synthetic scene: (RGB uint8 image, boxes int64 [N, 4] x, y, w, h, labels int64 [N, 6]). A crowd
    scene has CROWD_FACES faces (max_faces unused) of min_face .. min(max_face, CROWD_MAX_FACE) pixels."""
    return render_scene(rng, min_side, max_side, min_face, max_face, max_faces, crowd)[:3]


def render_scene(rng, min_side=320, max_side=1024, min_face=8, max_face=300, max_faces=12, crowd=False):
    """``render_image`` plus the faces' FDDB ellipses float64 [N, 5] (lib.data.fddb.ELLIPSE_FIELDS order)."""
    width = int(rng.randint(min_side, max_side + 1))
    height = int(np.clip(width * rng.uniform(0.6, 1.35), min(min_side, max_side) * 0.75, max_side))
    img = _background(rng, height, width)
    ids = np.full((height, width), -1, np.int32)
    upper = max(min_face, min(max_face, 0.7 * min(width, height)))
    log_sizes = (math.log(min_face), math.log(upper))
    for _ in range(int(rng.randint(2, 9))):
        _distractor(rng, img, math.exp(rng.uniform(*log_sizes)))
    if crowd:
        n_faces = int(rng.randint(CROWD_FACES[0], CROWD_FACES[1] + 1))
        log_sizes = (log_sizes[0], max(log_sizes[0], math.log(min(upper, CROWD_MAX_FACE))))
    else:
        n_faces = 0 if rng.rand() < EMPTY_IMAGE_PROB else 1 + min(int(rng.exponential(3.0)), max_faces - 1)
    placed = _draw_faces(rng, img, ids, [_Face(rng, math.exp(rng.uniform(*log_sizes))) for _ in range(n_faces)])
    for _, box, _, _ in placed:
        if rng.rand() < 0.25 and box[3] - box[1] >= 12:
            _occluder(rng, img, ids, box)
    noise = rng.randint(-6, 7, (61, 67, 3)).astype(np.int16)  # sensor grain, tiled
    tiled = np.tile(noise, (height // 61 + 1, width // 67 + 1, 1))[:height, :width]
    img = np.clip(img.astype(np.int16) + tiled, 0, 255).astype(np.uint8)
    boxes, labels, ellipses = _annotate(placed, ids)
    return img, boxes, labels, ellipses


def image_name(event, index):
    """``0--Parade`` -> ``0--Parade/0_Parade_Parade_0_<index>.jpg`` (the WIDER naming pattern)."""
    number, title = event.split('--', 1)
    return '%s/%s_%s_%s_%s_%d.jpg' % (event, number, title, title, number, index)


def write_jpeg(path, img):
    """Write an RGB image as the synthetic sets' JPEG (quality 92), making its folder."""
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    _, data = cv2.imencode('.jpg', cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def make_split(out_dir, split, num_images, seed, **render_args):
    """Render and write one split's images and annotation file; returns its list of WiderImage."""
    ann_path, image_dir = split_paths(out_dir, split)
    events = EVENTS[:max(1, min(len(EVENTS), num_images // 4))]
    images = []
    for index in range(num_images):
        rng = np.random.RandomState([seed, SPLIT_CODES[split], index])
        name = image_name(events[index % len(events)], index)
        img, boxes, labels = render_image(rng, **render_args)
        write_jpeg(os.path.join(image_dir, name), img)
        images.append(WiderImage(name, boxes, labels, 0))
    images.sort(key=lambda im: (im.name.split('/')[0], int(os.path.splitext(im.name)[0].rsplit('_', 1)[1])))
    write_text(ann_path, format_annotations(images))
    return images


def make_synthetic_wider(out_dir, num_train, num_val, seed=0, min_side=320, max_side=1024, min_face=8,
                         max_face=300, max_faces=12, crowd=False):
    """Write a synthetic WIDER FACE under out_dir: WIDER_{train,val}/images, wider_face_split/*_bbx_gt.txt and
    eval_tools/ground_truth/*.mat. Image widths are uniform in [min_side, max_side]; face heights log-uniform
    in [min_face, max_face] (capped to 70% of the shorter image side); up to max_faces faces an image, or
    with crowd, hundreds of faces an image up to CROWD_MAX_FACE high. A split with 0 images is not written.
    Returns {'train': [WiderImage], 'val': [WiderImage]}."""
    if not 0 < min_face <= max_face or not 0 < min_side <= max_side or max_faces < 1 or not 0 <= seed < 2 ** 32:
        raise ValueError('need 0 < min_face <= max_face, 0 < min_side <= max_side, max_faces >= 1, '
                         '0 <= seed < 2**32')
    args = dict(min_side=min_side, max_side=max_side, min_face=min_face, max_face=max_face, max_faces=max_faces,
                crowd=crowd)
    out = {}
    for split, count in (('train', num_train), ('val', num_val)):
        if count > 0:
            out[split] = make_split(out_dir, split, count, seed, **args)
    if 'val' in out:
        write_ground_truth(os.path.join(out_dir, 'eval_tools', 'ground_truth'), out['val'])
    return out
