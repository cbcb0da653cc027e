"""Run a FaceDetector over a WIDER-layout image set and write WIDER result files (tools/wider.py).

Images come from ``data_dir/images/<event>/*.jpg`` or from a list (``wider_face_val.mat`` or a val txt);
each result is a WIDER result file (lib.evaluation.results), best box first. Single scale by default (shrunk
under a pixel-count cap); ``multi_scale`` / ``flip`` add the DSFD test protocol (shrunk, flipped, small and
enlarged passes) merged by box voting; ``detect_original`` is the original's own protocol (tools/wider.py
--protocol=original).

The result folder holds nothing but ``<event>/<name>.txt`` (evaluators take every entry of an event folder): who
made it and which results stand for unreadable images live in the record beside it
(``<result>.pruned_dsfd.json``, lib.common.outputs), and each run holds a lock beside it per shard
(``<result>.shard-I-of-N.lock``).
"""
import collections
import contextlib
import errno
import glob
import logging
import math
import os
import queue
import re
import threading
import time

import cv2
import numpy as np
from tqdm import tqdm

from lib.anchors.matcher import iou_matrix
from lib.common.errors import UserError
from lib.common.image import MAX_IMAGE_PIXELS, is_image_file, read_image, resize_image
from lib.common.lock import live_holder, writer_lock
from lib.common.outputs import claim_output_dir, read_record, updating_record
from lib.data.sample_list import read_sample_list
from lib.evaluation.ground_truth import val_images
from lib.evaluation.results import result_path, write_result

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 1700 * 1200   # the largest pass of any image, in pixels
MAX_ENLARGE = 3.                   # multi-scale never enlarges beyond this factor
VOTE_IOU = 0.3
ORIGINAL_MAX_PIXELS = 1000 * 1000  # the original's cap: no pass is larger than 1 Mpx
ORIGINAL_SCORE = 0.05              # the original's passes keep scores above this
TOOL = 'wider'                     # the owner named in the record beside a result folder
OLD_UNREADABLE_SUFFIX = '.unreadable'  # an earlier version marked unreadable images' results inside the folder

ImageItem = collections.namedtuple('ImageItem', 'event name path')
ImageItem.__doc__ = 'One image to run: its event folder, its name without extension, its file path.'


# ------------------------------------------------------------------------------------------------ image lists

def _item(path):
    return ImageItem(os.path.basename(os.path.dirname(path)), os.path.splitext(os.path.basename(path))[0], path)


def walk_images(data_dir):
    """Every image of ``data_dir/images/<event>/``, sorted by event and name."""
    image_dir = os.path.join(data_dir, 'images')
    if not os.path.isdir(image_dir):
        raise UserError('%s has no images/ folder; expected the WIDER layout data_dir/images/<event>/<name>.jpg '
                        '(e.g. --data_dir=data/WIDER/WIDER_val)' % data_dir)
    paths = [p for p in glob.glob(os.path.join(image_dir, '*', '*')) if is_image_file(p)]
    if not paths:
        raise UserError('no images under %s; expected <event>/<name>.jpg files' % image_dir)
    return [_item(p) for p in sorted(paths)]


def read_mat_list(mat_path, data_dir):
    """Images named by ``wider_face_val.mat`` (event_list, file_list) under ``data_dir/images``."""
    return [ImageItem(event, name, os.path.join(data_dir, 'images', event, name + '.jpg'))
            for event, name in val_images(mat_path)]


def read_txt_list(txt_path, data_dir):
    """Images of a sample list (val.txt, ``path| boxes``); relative paths that do not exist are tried under
    ``data_dir/images``."""
    items = []
    for path, _ in read_sample_list(txt_path):
        if not os.path.isabs(path) and not os.path.exists(path):
            under = os.path.join(data_dir, 'images', path)
            path = under if os.path.exists(under) else path
        items.append(_item(path))
    return items


def check_unique_results(items):
    """Two images that would write one result file (a.jpg and a.png of one event) are a UserError naming both:
    the second result would silently replace the first."""
    seen = {}
    for item in items:
        other = seen.setdefault((item.event, item.name), item.path)
        if os.path.abspath(other) != os.path.abspath(item.path):
            raise UserError('%s and %s would both write the result %s/%s.txt; rename or move one of them'
                            % (other, item.path, item.event, item.name))


def list_images(data_dir, list_file=None):
    """The images to run: the list file's (``.mat`` or a val txt) when given, else a walk of ``data_dir``; each
    result file name is checked to be unique (``check_unique_results``)."""
    if not list_file:
        items = walk_images(data_dir)
    elif not os.path.isfile(list_file):
        raise UserError('image list not found: %s (expected wider_face_val.mat or a val.txt)' % list_file)
    else:
        items = read_mat_list(list_file, data_dir) if list_file.endswith('.mat') else \
            read_txt_list(list_file, data_dir)
        if not items:
            raise UserError('%s lists no images' % list_file)
    check_unique_results(items)
    return items


def shard_items(items, index, count):
    """Shard ``index`` of ``count`` of the image list: every count-th image of the list sorted by (event, name),
    starting at ``index``; the shards are disjoint, cover the list, and do not depend on the order it came in."""
    if not 0 <= index < count:
        raise UserError('shard %d/%d: expected 0 <= I < N' % (index, count))
    return sorted(items, key=lambda item: (item.event, item.name, item.path))[index::count]


# ------------------------------------------------------------------------------------------------ test protocol

def max_scale(height, width, max_pixels, limit=MAX_ENLARGE):
    """The largest resize factor keeping height x width under ``max_pixels`` (and under ``limit``)."""
    return min(limit, (float(max_pixels) / (height * width)) ** 0.5)


def detect_scaled(detector, image, scale, score_threshold, flip=False):
    """Detections of ``image`` resized by ``scale`` (mirrored when ``flip``), in ``image``'s own pixels."""
    resized, (scale_y, scale_x) = resize_image(image, scale)
    if flip:
        resized = resized[:, ::-1]
    dets = detector.detect(resized, score_threshold).copy()
    if flip:
        width = resized.shape[1]
        dets[:, 0], dets[:, 2] = width - dets[:, 2], width - dets[:, 0]
    dets[:, [0, 2]] /= scale_x
    dets[:, [1, 3]] /= scale_y
    return dets


def _sides(dets, pixel=0.):
    """(widths, heights) of [K, 5] boxes; ``pixel`` = 1 counts both end pixels, as the original does."""
    return dets[:, 2] - dets[:, 0] + pixel, dets[:, 3] - dets[:, 1] + pixel


def box_vote(dets, iou_threshold=VOTE_IOU, max_boxes=None, keep_single=True, pixel=0.):
    """Merge overlapping detections of several passes: each group (IoU >= threshold with its best box) becomes
    the score-weighted mean box with the group's best score (the best ``max_boxes`` groups when given). Single
    boxes are kept unless ``keep_single`` is off (the original drops them); ``pixel`` = 1 computes the IoU with
    inclusive pixel ends, as the original does. No boxes -> [0, 5]."""
    dets = np.asarray(dets, np.float32).reshape(-1, 5)
    dets = dets[np.argsort(-dets[:, 4], kind='stable')]
    merged = []
    while len(dets) and (max_boxes is None or len(merged) < max_boxes):
        ends = dets[:, :4] + np.array([0., 0., pixel, pixel], np.float32)
        group = iou_matrix(ends[:1], ends)[0] >= iou_threshold
        group[0] = True
        members = dets[group]
        dets = dets[~group]
        if len(members) == 1 and not keep_single:
            continue
        weights = members[:, 4:5]
        box = (members[:, :4] * weights).sum(axis=0) / max(float(weights.sum()), 1e-12)
        merged.append(np.append(box, members[0, 4]))
    return np.array(merged, np.float32).reshape(-1, 5)


def detect_single_scale(detector, image, score_threshold, max_pixels=DEFAULT_MAX_PIXELS):
    """One pass, the image shrunk (never enlarged) so its pixel count stays under ``max_pixels``."""
    scale = min(1., max_scale(image.shape[0], image.shape[1], max_pixels))
    return detect_scaled(detector, image, scale, score_threshold)


def detect_multi_scale(detector, image, score_threshold, max_pixels=DEFAULT_MAX_PIXELS, multi_scale=True,
                       flip=True, max_boxes=None):
    """The DSFD test protocol, merged by box voting.

    Passes: the base scale (the image shrunk under the cap), its mirror (``flip``), and with ``multi_scale`` a
    half-size pass that keeps only large faces (longer side > 30 px) plus enlarged passes (x2, x4, ... up to the
    cap, at most x3) that keep only small faces (shorter side < 100 px), in the original image's pixels.
    """
    height, width = image.shape[:2]
    largest = max_scale(height, width, max_pixels)
    base = min(1., largest)
    passes = [detect_scaled(detector, image, base, score_threshold)]
    if flip:
        passes.append(detect_scaled(detector, image, base, score_threshold, flip=True))
    if multi_scale:
        small = detect_scaled(detector, image, base / 2., score_threshold)
        passes.append(small[np.maximum(*_sides(small)) > 30])
        scale = base * 2.
        while largest > base:
            large = detect_scaled(detector, image, min(scale, largest), score_threshold)
            passes.append(large[np.minimum(*_sides(large)) < 100])
            if scale >= largest:
                break
            scale *= 2.
    return box_vote(np.concatenate(passes, axis=0), max_boxes=max_boxes)


def original_pass(detector, image, shrink, score_threshold=ORIGINAL_SCORE):
    """One pass of the original: ``image`` resized by ``shrink`` (cv2 bilinear, OpenCV's rounding of the size)
    unless it is 1, run as the original's FaceDetector runs it (``detect_stretched``), boxes divided by ``shrink``
    (not by the size actually reached)."""
    if shrink != 1:
        image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_LINEAR)
    dets = detector.detect_stretched(image, score_threshold)
    dets[:, :4] /= float(shrink)
    return dets


def detect_original(detector, image, score_threshold=ORIGINAL_SCORE, max_boxes=None):
    """The original's test protocol (its tools/wider.py): always multi-scale, no flip, a 1 Mpx cap, each pass
    stretched to a multiple of 32 (``original_pass``).

    With ``largest`` = min(3, sqrt(1e6 / (H W))): a base pass at min(1, largest); a shrunk pass at 0.5 (or
    0.5 x largest when largest < 0.75) keeping boxes whose longer side + 1 > 30; enlarged passes at
    min(2, largest) (or halfway between the shrunk scale and largest when largest <= 1), then, when largest > 2,
    x2 steps below largest and largest itself, keeping boxes whose shorter side + 1 < 100 when the last step
    exceeded 1 (else longer side + 1 > 30). All boxes, in the image's pixels, are merged by its box voting
    (inclusive-pixel IoU >= 0.3, single boxes dropped), the best ``max_boxes`` kept when given. Like the
    original, no face left is answered with one all-zero box.
    """
    height, width = image.shape[:2]
    largest = min(MAX_ENLARGE, math.sqrt(float(ORIGINAL_MAX_PIXELS) / (height * width)))
    passes = [original_pass(detector, image, min(1., largest), score_threshold)]
    shrink = 0.5 if largest >= 0.75 else 0.5 * largest
    small = original_pass(detector, image, shrink, score_threshold)
    passes.append(small[np.maximum(*_sides(small, 1.)) > 30])
    scale = min(2., largest) if largest > 1 else (shrink + largest) / 2.
    enlarged = [original_pass(detector, image, scale, score_threshold)]
    if largest > 2:
        scale *= 2
        while scale < largest:
            enlarged.append(original_pass(detector, image, scale, score_threshold))
            scale *= 2
        enlarged.append(original_pass(detector, image, largest, score_threshold))
    enlarged = np.concatenate(enlarged, axis=0)
    if scale > 1:
        passes.append(enlarged[np.minimum(*_sides(enlarged, 1.)) < 100])
    else:
        passes.append(enlarged[np.maximum(*_sides(enlarged, 1.)) > 30])
    voted = box_vote(np.concatenate(passes, axis=0), VOTE_IOU, max_boxes, keep_single=False, pixel=1.)
    return voted if len(voted) else np.zeros((1, 5), np.float32)


# ------------------------------------------------------------------------------------------------ the run

def prefetch_images(items, queue_size=16, max_image_pixels=MAX_IMAGE_PIXELS):
    """Yield (item, RGB image or None) while a background thread decodes the next ``queue_size`` images (None for
    an unreadable one or one above ``max_image_pixels``)."""
    pending = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    done = object()

    def decode_all():
        for item in items:
            entry = (item, read_image(item.path, max_image_pixels))
            while not stop.is_set():
                try:
                    pending.put(entry, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        pending.put(done)

    thread = threading.Thread(target=decode_all, name='wider-decode', daemon=True)
    thread.start()
    try:
        while True:
            entry = pending.get()
            if entry is done:
                return
            yield entry
    finally:
        stop.set()
        thread.join()


WiderRunSummary = collections.namedtuple('WiderRunSummary', 'written skipped unreadable seconds')


class WiderStopped(UserError):
    """A run stopped by Ctrl-C or a full disk; the message says what was kept and how to resume."""

    def __init__(self, message, interrupted):
        super(WiderStopped, self).__init__(message)
        self.interrupted = interrupted


def claim_result_dir(result_dir, overwrite=False, flag='--result'):
    """Claim ``result_dir`` for tools/wider.py (its record beside it, lib.common.outputs); returns its absolute
    path. A folder of an earlier version (marker and ``<result>.txt.unreadable`` files inside) is recognised as
    this tool's, and its markers move into the record."""
    result_dir = claim_output_dir(result_dir, TOOL, overwrite, flag, beside=True)
    old = glob.glob(os.path.join(glob.escape(result_dir), '*', '*.txt' + OLD_UNREADABLE_SUFFIX))
    if old:
        with updating_record(result_dir) as record:
            marks = record.setdefault('unreadable', {})
            for path in old:
                with open(path) as f:
                    marks[_result_key(result_dir, path[:-len(OLD_UNREADABLE_SUFFIX)])] = f.read().strip()
        for path in old:
            os.remove(path)
    return result_dir


def shard_lock_path(result_dir, index, count):
    """The lock file of shard ``index``/``count`` of a run into ``result_dir``: beside the folder, not in it."""
    return '%s.shard-%d-of-%d.lock' % (os.path.abspath(result_dir).rstrip(os.sep), index, count)


def shards_overlap(shard_a, shard_b):
    """Whether shards I/N and J/M of one sorted list can share an image: some k = I mod N = J mod M, i.e.
    I = J mod gcd(N, M) (a run without --shard is 0/1 and overlaps every shard)."""
    (i, n), (j, m) = shard_a, shard_b
    gcd = math.gcd(n, m)
    return i % gcd == j % gcd


@contextlib.contextmanager
def result_lock(result_dir, index=0, count=1):
    """Hold shard ``index``/``count``'s lock on ``result_dir`` while the block runs; a live run on an overlapping
    shard (the same shard, or any when one of them is not sharded) is refused in one line naming its pid. Shards
    of one run (--shard=I/N, --workers) are not rivals. Each run locks its own file first and then looks at the
    others, so of two runs started together at least one sees the other (lib.common.lock says what a network file
    system does to these locks)."""
    what = '--result=%s (shard %d/%d)' % (result_dir, index, count)
    with writer_lock(shard_lock_path(result_dir, index, count), what):
        prefix = os.path.abspath(result_dir).rstrip(os.sep) + '.shard-'
        for path in sorted(glob.glob(glob.escape(prefix) + '*-of-*.lock')):
            match = re.match(r'^(\d+)-of-(\d+)\.lock$', path[len(prefix):])
            if not match or (int(match.group(1)), int(match.group(2))) == (index, count):
                continue
            other = int(match.group(1)), int(match.group(2))
            holder = live_holder(path) if shards_overlap((index, count), other) else None
            if holder is not None:
                raise UserError('%s overlaps shard %d/%d, which another run is writing (pid %s, lock %s); wait for '
                                'it to finish, or run a shard disjoint from it' % ((what,) + other + (holder, path)))
        yield


def _result_key(result_dir, path):
    return os.path.relpath(path, result_dir).replace(os.sep, '/')


def _mark_unreadable(result_dir, key, image_path, unreadable):
    """Record (``unreadable``) or clear a result written with 0 detections for an unreadable image."""
    with updating_record(result_dir) as record:
        marks = record.setdefault('unreadable', {})
        if unreadable:
            marks[key] = image_path
        else:
            marks.pop(key, None)


def run_wider(detector, items, result_dir, score_threshold=0., max_pixels=DEFAULT_MAX_PIXELS, multi_scale=False,
              flip=False, skip_existing=False, progress=True, max_boxes=None, original=False, show=None,
              max_image_pixels=MAX_IMAGE_PIXELS):
    """Detect every image of ``items`` and write its result file; unreadable images (and those whose header
    declares more than ``max_image_pixels``) get 0 detections.

    ``result_dir`` must be claimed (``claim_result_dir``). ``skip_existing`` leaves images whose result file
    exists untouched (resume a killed run), except those written for an unreadable image (listed in the record
    beside the folder), which are tried again; ``max_boxes`` caps the voted boxes of an image (multi-scale / flip /
    original); ``original`` runs the original's protocol (``detect_original``, at least its 0.05 score; max_pixels,
    multi_scale and flip are then unused) and writes its file layout; ``show(item, image, detections)`` is
    called for each readable image. Ctrl-C or a full disk raise ``WiderStopped`` saying what was kept.
    """
    result_dir = os.path.abspath(result_dir)
    os.makedirs(result_dir, exist_ok=True)  # the record's lock opens the folder, even before the first result
    marked = set(read_record(result_dir).get('unreadable', {}))
    skipped = 0
    if skip_existing:
        todo = [item for item in items if not os.path.isfile(result_path(result_dir, item.event, item.name))
                or _result_key(result_dir, result_path(result_dir, item.event, item.name)) in marked]
        skipped = len(items) - len(todo)
        items = todo
    unreadable, written = [], 0
    start = time.time()
    bar = tqdm(total=len(items), unit='img', desc='detect', disable=not progress)
    try:
        for item, image in prefetch_images(items, max_image_pixels=max_image_pixels):
            key = _result_key(result_dir, result_path(result_dir, item.event, item.name))
            if image is None:
                unreadable.append(item.path)
                log.warning('cannot read %s; writing 0 detections', item.path)
                detections = np.zeros((0, 5), np.float32)
                _mark_unreadable(result_dir, key, item.path, True)  # first: a kill leaves it redone
            elif original:
                detections = detect_original(detector, image, max(score_threshold, ORIGINAL_SCORE), max_boxes)
            elif multi_scale or flip:
                detections = detect_multi_scale(detector, image, score_threshold, max_pixels, multi_scale, flip,
                                                max_boxes)
            else:
                detections = detect_single_scale(detector, image, score_threshold, max_pixels)
            name_line = '%s/%s' % (item.event, os.path.basename(item.path)) if original else None
            write_result(result_dir, item.event, item.name, detections, name_line, original)
            written += 1
            if image is not None and key in marked:
                _mark_unreadable(result_dir, key, item.path, False)
            if image is not None and show is not None:
                show(item, image, detections)
            bar.update(1)
    except KeyboardInterrupt:
        raise WiderStopped('interrupted: %s; resume with the same command plus --skip_existing'
                           % _kept(written, result_dir), interrupted=True)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise WiderStopped('the disk is full (%s): %s; free space, then resume with the same command plus '
                           '--skip_existing' % (err.strerror or err, _kept(written, result_dir)), interrupted=False)
    finally:
        bar.close()
    return WiderRunSummary(len(items), skipped, unreadable, time.time() - start)


def _kept(written, result_dir):
    return '%d result files written to %s are kept' % (written, result_dir)
