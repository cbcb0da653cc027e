"""WIDER FACE annotation files (``wider_face_{split}_bbx_gt.txt``): strict parsing, writing, and conversion
of one split to training samples.

Format, one image after another: the image path relative to ``WIDER_{split}/images``, a face count, then
``count`` lines ``x y w h blur expression illumination invalid occlusion pose``. An image with count 0 is
followed by one all-zero line. Every malformed input is a UserError naming the file and line.
"""
import collections
import os

import numpy as np

from lib.common.errors import UserError, where
from lib.common.image import is_image_file
from lib.common.io import read_text_lines

BOX_FIELDS = ('x', 'y', 'w', 'h')
LABEL_FIELDS = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')
FIELDS = BOX_FIELDS + LABEL_FIELDS
SPLITS = ('train', 'val')

# One image of an annotation file. boxes: int64 [N, 4] (x, y, w, h); labels: int64 [N, 6] in LABEL_FIELDS
# order; line: where the image path was (for error messages). Count-0 images have N == 0.
WiderImage = collections.namedtuple('WiderImage', 'name boxes labels line')


def split_paths(wider_root, split):
    """(annotation file, image folder) of one split under a WIDER root."""
    ann = os.path.join(wider_root, 'wider_face_split', 'wider_face_%s_bbx_gt.txt' % split)
    return ann, os.path.join(wider_root, 'WIDER_%s' % split, 'images')


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_numeric(text):
    """Box and count lines are whitespace-separated numbers."""
    return all(_is_number(t) for t in text.split())


def _is_path(text):
    """A line that can only be an image path (used where a box line is expected)."""
    return is_image_file(text) or '/' in text


def _parse_box_line(path, lineno, text):
    tokens = text.split()
    if len(tokens) != len(FIELDS):
        raise UserError('%s: expected %d fields (%s), got %d; fix the line or re-download the annotations'
                        % (where(path, lineno), len(FIELDS), ' '.join(FIELDS), len(tokens)))
    values = []
    for name, token in zip(FIELDS, tokens):
        try:
            values.append(int(token))
        except ValueError:
            raise UserError('%s: expected an integer, got %r' % (where(path, lineno, name), token))
    return values


class _Lines(object):
    """Non-blank lines of a file with their 1-based line numbers; peek/next like a tokenizer."""

    def __init__(self, path):
        self.items = [(i + 1, line.strip()) for i, line in enumerate(read_text_lines(path)) if line.strip()]
        self.pos = 0
        self.last_line = self.items[-1][0] if self.items else 0

    def peek(self):
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self):
        item = self.peek()
        self.pos += item is not None
        return item


def parse_annotations(path):
    """Parse a WIDER ``*_bbx_gt.txt`` file into a list of WiderImage; strict, errors carry file:line."""
    if not os.path.isfile(path):
        raise UserError('annotation file not found: %s (download wider_face_split.zip, or set --wider_root)' % path)
    name = os.path.basename(path)
    lines = _Lines(path)
    images = []
    while lines.peek() is not None:
        images.append(_read_image(lines, name, images[-1] if images else None))
    if not images:
        raise UserError('%s: no images in the annotation file' % name)
    return images


def _read_image(lines, name, previous):
    """One record: the image path, its count, its box lines (and the dummy line after a count of 0)."""
    lineno, image_name = lines.next()
    if _is_numeric(image_name):
        hint = '' if previous is None else ': the face count of %s (line %d) disagrees with the box lines ' \
            'that follow it' % (previous.name, previous.line + 1)
        raise UserError('%s: expected an image path, got %r%s' % (where(name, lineno), image_name, hint))
    item = lines.next()
    if item is None:
        raise UserError('%s: file ends after the image path; expected the face count (truncated file?)'
                        % where(name, lines.last_line))
    count_line, count_text = item
    try:
        count = int(count_text)
    except ValueError:
        raise UserError('%s: expected an integer, got %r' % (where(name, count_line, 'count'), count_text))
    if count < 0:
        raise UserError('%s: the face count must be >= 0, got %d' % (where(name, count_line, 'count'), count))
    rows = []
    for k in range(count):
        item = lines.next()
        if item is None:
            raise UserError('%s: file ends while reading box %d of %d for %s (count at line %d); the file is '
                            'truncated' % (where(name, lines.last_line), k + 1, count, image_name, count_line))
        box_line, text = item
        if _is_path(text):
            raise UserError('%s: expected box %d of %d for %s, got the path %r: the count at line %d disagrees '
                            'with the lines that follow' % (where(name, box_line), k + 1, count, image_name, text,
                                                            count_line))
        rows.append(_parse_box_line(name, box_line, text))
    if count == 0:
        _skip_dummy_line(lines, name, count_line)
    table = np.array(rows, dtype=np.int64).reshape(-1, len(FIELDS))
    return WiderImage(image_name, table[:, :4], table[:, 4:], lineno)


def _skip_dummy_line(lines, name, count_line):
    """After count 0 WIDER writes one all-zero line; consume it (tolerate its absence, reject a real box)."""
    item = lines.peek()
    if item is None or not _is_numeric(item[1]):
        return
    values = _parse_box_line(name, item[0], item[1])
    if any(values):
        raise UserError('%s: the count at line %d is 0 but this line holds a box; fix the count'
                        % (where(name, item[0]), count_line))
    lines.next()


def format_annotations(images):
    """WIDER annotation text for a list of WiderImage (count-0 images get the all-zero line, like WIDER)."""
    out = []
    for image in images:
        out.append('%s\n%d\n' % (image.name, len(image.boxes)))
        rows = np.concatenate([image.boxes, image.labels], axis=1) if len(image.boxes) else np.zeros((1, 10), int)
        for row in rows:
            out.append(' '.join(str(int(v)) for v in row) + ' \n')
    return ''.join(out)


def select_faces(image, min_size=0, skip_invalid=True):
    """Boxes (float32 [K, 4] x1, y1, x2, y2) of the faces of one image worth training on, plus a Counter of the
    dropped ones by reason: 'degenerate' (w or h <= 0), 'invalid' (flagged invalid, when skip_invalid),
    'small' (min(w, h) < min_size). Each face is judged on its own; the first failing reason counts."""
    dropped = collections.Counter()
    keep = []
    invalid_col = LABEL_FIELDS.index('invalid')
    for (x, y, w, h), labels in zip(image.boxes, image.labels):
        if w <= 0 or h <= 0:
            dropped['degenerate'] += 1
        elif skip_invalid and labels[invalid_col]:
            dropped['invalid'] += 1
        elif min(w, h) < min_size:
            dropped['small'] += 1
        else:
            keep.append((x, y, x + w, y + h))
    return np.array(keep, dtype=np.float32).reshape(-1, 4), dropped


SplitStats = collections.namedtuple('SplitStats', 'images faces dropped empty_skipped missing')


def convert_split(wider_root, split, min_size=0, skip_invalid=True, keep_empty=False, allow_missing=False):
    """Training samples of one WIDER split: (list of (image_path, boxes float32 [K, 4]), SplitStats).

    Image paths are ``wider_root/WIDER_{split}/images/<name>`` (relative when wider_root is). Images left
    without faces are skipped unless keep_empty (pure negatives). Missing image files are an error unless
    allow_missing, which skips them (listed in stats.missing).
    """
    ann_path, image_dir = split_paths(wider_root, split)
    images = parse_annotations(ann_path)
    samples, missing = [], []
    dropped = collections.Counter()
    faces = empty = 0
    for image in images:
        path = os.path.join(image_dir, image.name)
        if not os.path.isfile(path):
            missing.append(image)
            continue
        boxes, why = select_faces(image, min_size, skip_invalid)
        dropped.update(why)
        if len(boxes) == 0 and not keep_empty:
            empty += 1
            continue
        faces += len(boxes)
        samples.append((path, boxes))
    if missing and not allow_missing:
        examples = ', '.join('%s (line %d)' % (m.name, m.line) for m in missing[:3])
        raise UserError('%d of %d images listed in %s are missing under %s, e.g. %s; fix --wider_root or pass '
                        '--allow_missing to skip them' % (len(missing), len(images), os.path.basename(ann_path),
                                                          image_dir, examples))
    if not samples:
        raise UserError('no images left in %s after dropping %s; check --min_size / --skip_invalid'
                        % (os.path.basename(ann_path), dict(dropped)))
    return samples, SplitStats(len(samples), faces, dropped, empty, [m.name for m in missing])
