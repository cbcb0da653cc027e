"""WIDER result files, written and read here only: ``<result>/<event>/<image name>.txt`` holding the image name,
the box count, then one ``x y w h score`` line per box (w = x2 - x1), best first.

The original's layout (tools/wider.py --protocol=original) differs: its name line is ``<event>/<file name>``,
w = x2 - x1 + 1 and h = y2 - y1 + 1 (inclusive pixel ends), and scores have 3 decimals instead of 4.
"""
import logging
import os
import re

import numpy as np
from tqdm import tqdm

from lib.common.errors import UserError, where
from lib.common.io import write_text

log = logging.getLogger(__name__)

# A body of prediction lines, each blank or exactly five whitespace-separated tokens (the fast path's check).
_BOX_BODY = re.compile(r'(?:[ \t]*(?:\S+[ \t]+){4}\S+[ \t]*\n|[ \t]*\n)*'
                       r'(?:[ \t]*(?:\S+[ \t]+){4}\S+[ \t]*|[ \t]*)')


def result_path(result_dir, event, name):
    """Where the result of image ``name`` (no extension) of ``event`` lives."""
    return os.path.join(result_dir, event, name + '.txt')


def format_result(name, detections, original=False):
    """The result text of one image: name line ``name``, count, ``x y w h score`` lines of ``detections`` [K, 5]
    (x1, y1, x2, y2, score) in the given order; ``original``: the original's layout (module docstring)."""
    pixel, layout = (1., '%.1f %.1f %.1f %.1f %.3f') if original else (0., '%.1f %.1f %.1f %.1f %.4f')
    lines = [name, str(len(detections))]
    for x1, y1, x2, y2, score in np.asarray(detections, np.float64).reshape(-1, 5):
        lines.append(layout % (x1, y1, x2 - x1 + pixel, y2 - y1 + pixel, score))
    return '\n'.join(lines) + '\n'


def write_result(result_dir, event, name, detections, name_line=None, original=False):
    """Atomically write one image's result file (name line ``name`` unless ``name_line``); returns its path."""
    path = result_path(result_dir, event, name)
    write_text(path, format_result(name if name_line is None else name_line, detections, original))
    return path


def to_prediction(detections):
    """In-memory detections [K, 5] (x1, y1, x2, y2, score) -> float64 [K, 5] ``x y w h score`` exactly as
    writing and reading back a result file gives them, so AP computed in memory equals AP of the files."""
    body = format_result('-', detections).split('\n', 2)[2]
    return np.array(body.split(), dtype=np.float64).reshape(-1, 5)

def _split_header(text, path):
    """-> (box count, its line number, body text after the count line). Leading blank lines are skipped."""
    lines = text.split('\n')
    header = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            header.append((number, line.strip()))
            if len(header) == 2:
                break
    if len(header) < 2:
        raise UserError('%s: expected an image name line and a box count line' % where(path))
    count_line, count_text = header[1]
    try:
        count = int(count_text)
    except ValueError:
        raise UserError('%s: expected the number of boxes, found %r' % (where(path, count_line), count_text))
    return count, count_line, '\n'.join(lines[count_line:])


def _parse_box_lines(body, path, first_line):
    """Line by line: every non-blank line must be five finite numbers; the first that is not is a UserError."""
    rows = []
    for number, line in enumerate(body.split('\n'), first_line):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 5:
            raise UserError('%s: expected 5 numbers "x y w h score", found %d' % (where(path, number), len(tokens)))
        try:
            row = [float(token) for token in tokens]
        except ValueError:
            raise UserError('%s: not a number in %r' % (where(path, number), line.strip()))
        if not np.all(np.isfinite(row)):
            raise UserError('%s: numbers must be finite, found %r' % (where(path, number), line.strip()))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _parse_boxes(body, path, first_line):
    """Box lines -> float64 [N, 5]; a whole-body parse when the layout is clean, else the line-by-line check."""
    if _BOX_BODY.fullmatch(body):
        try:
            values = np.array(body.split(), dtype=np.float64)
        except ValueError:
            values = None
        if values is not None and np.all(np.isfinite(values)):
            return values.reshape(-1, 5)
    return _parse_box_lines(body, path, first_line)


def read_prediction_file(path):
    """One WIDER result file (name line, count line, ``x y w h score`` lines) -> (boxes float64 [N, 5],
    count written in the file). Blank lines, tabs, trailing spaces and CRLF are fine; any line ending works."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    count, count_line, body = _split_header(text, path)
    return _parse_boxes(body, path, count_line + 1), count


def read_predictions(pred_dir, gt, progress=True):
    """Read ``pred_dir/<event>/<image>.txt`` for every ground-truth image -> list of [N, 5] arrays in gt order.

    Missing folders or files count as no detections (one summary warning); files not in the ground truth are
    ignored; a count line that disagrees with the boxes is reported and the boxes are trusted.
    """
    if not os.path.isdir(pred_dir):
        raise UserError('prediction folder not found: %s (expected <event>/<image>.txt files)' % pred_dir)
    predictions, missing_events, missing_files, miscounted = [], set(), [], []
    for event, name in tqdm(gt.images, desc='reading predictions', unit='img', disable=None if progress else True):
        path = result_path(pred_dir, event, name)
        if not os.path.isfile(path):
            if os.path.isdir(os.path.join(pred_dir, event)):
                missing_files.append(path)
            else:
                missing_events.add(event)
            predictions.append(np.zeros((0, 5)))
            continue
        boxes, count = read_prediction_file(path)
        if count != len(boxes):
            miscounted.append('%s (says %d, has %d)' % (path, count, len(boxes)))
        predictions.append(boxes)
    _report_reading(pred_dir, gt, missing_events, missing_files, miscounted)
    return predictions


def _report_reading(pred_dir, gt, missing_events, missing_files, miscounted):
    """One warning per kind of reading problem; a UserError when nothing at all was found."""
    all_events = {event for event, _ in gt.images}
    if all_events and len(missing_events) == len(all_events):
        raise UserError('no prediction folders under %s for any of the %d events (e.g. %s/%s); expected '
                        '<event>/<image>.txt' % (pred_dir, len(all_events), pred_dir, gt.images[0][0]))
    if missing_events or missing_files:
        images_lost = sum(1 for event, _ in gt.images if event in missing_events) + len(missing_files)
        log.warning('no predictions for %d of %d images (%d of %d event folders missing%s, %d files missing%s); '
                    'they count as detecting nothing', images_lost, len(gt.images), len(missing_events),
                    len(all_events), ', e.g. %s' % sorted(missing_events)[0] if missing_events else '',
                    len(missing_files), ', e.g. %s' % missing_files[0] if missing_files else '')
    if miscounted:
        log.warning('%d prediction files have a count line that disagrees with their boxes (e.g. %s); '
                    'using the boxes', len(miscounted), miscounted[0])
