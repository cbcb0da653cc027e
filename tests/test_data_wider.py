"""WIDER annotation parsing, face selection and tools/prepare_wider_data.py."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import zip_same
from lib.data.sample_list import read_sample_list
from lib.data.synthetic import make_synthetic_wider
from lib.data.wider import convert_split, format_annotations, parse_annotations, select_faces
from lib.common.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREPARE = os.path.join(ROOT, 'tools', 'prepare_wider_data.py')

GOOD = """0--Parade/a.jpg
2
10 20 30 40 0 0 0 0 0 0 
5 5 0 8 0 0 0 0 0 0 
0--Parade/empty.jpg
0
0 0 0 0 0 0 0 0 0 0 
1--Handshaking/b.jpg
3
1 2 3 4 2 1 0 1 2 0 
100 100 4 4 0 0 0 0 0 1 
50 60 20 25 1 0 1 0 1 0 
"""


def write(tmp_path, text, name='wider_face_train_bbx_gt.txt'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_parse_counts_zero_images_and_labels(tmp_path):
    images = parse_annotations(write(tmp_path, GOOD))
    assert [im.name for im in images] == ['0--Parade/a.jpg', '0--Parade/empty.jpg', '1--Handshaking/b.jpg']
    assert [len(im.boxes) for im in images] == [2, 0, 3]
    assert images[1].boxes.shape == (0, 4) and images[1].labels.shape == (0, 6)
    np.testing.assert_array_equal(images[2].labels[0], [2, 1, 0, 1, 2, 0])
    assert [im.line for im in images] == [1, 5, 8]


def test_count_zero_without_dummy_line_is_accepted(tmp_path):
    images = parse_annotations(write(tmp_path, 'a/x.jpg\n0\na/y.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n'))
    assert [len(im.boxes) for im in images] == [0, 1]


def test_format_round_trip_keeps_wider_conventions(tmp_path):
    images = parse_annotations(write(tmp_path, GOOD))
    text = format_annotations(images)
    assert '0--Parade/empty.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n' in text
    again = parse_annotations(write(tmp_path, text, 'again.txt'))
    for a, b in zip_same(images, again):
        assert a.name == b.name
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_select_faces_judges_each_box_on_its_own(tmp_path):
    images = parse_annotations(write(tmp_path, GOOD))
    boxes, dropped = select_faces(images[0])  # the second (last) box is degenerate: only it goes
    np.testing.assert_array_equal(boxes, [[10, 20, 40, 60]])
    assert dropped == {'degenerate': 1}
    boxes, dropped = select_faces(images[2], min_size=5)
    np.testing.assert_array_equal(boxes, [[50, 60, 70, 85]])
    assert dropped == {'invalid': 1, 'small': 1}
    boxes, dropped = select_faces(images[2], min_size=0, skip_invalid=False)
    assert len(boxes) == 3 and not dropped


@pytest.mark.parametrize('text, line, words', [
    ('a/x.jpg\n2\n1 1 5 5 0 0 0 0 0 0\n', 3, ['truncated', 'box 2 of 2']),
    ('a/x.jpg\n', 1, ['truncated', 'count']),
    ('a/x.jpg\n2\n1 1 5 5 0 0 0 0 0 0\nb/y.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n', 4, ['disagrees', 'line 2']),
    ('a/x.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n2 2 5 5 0 0 0 0 0 0\n', 4, ['disagrees', 'line 2']),
    ('a/x.jpg\n1\n1 1 5.5 5 0 0 0 0 0 0\n', 3, ["field 'w'", 'integer']),
    ('a/x.jpg\n1\n1 1 5 5 0 0 0 0 0\n', 3, ['expected 10 fields']),
    ('a/x.jpg\ntwo\n1 1 5 5 0 0 0 0 0 0\n', 2, ["field 'count'"]),
    ('a/x.jpg\n-1\n', 2, ['>= 0']),
    ('a/x.jpg\n0\n1 1 5 5 0 0 0 0 0 0\n', 3, ['is 0 but this line holds a box']),
    ('3\n', 1, ['expected an image path']),
])
def test_every_error_names_file_and_line(tmp_path, text, line, words):
    with pytest.raises(UserError) as err:
        parse_annotations(write(tmp_path, text))
    message = str(err.value)
    assert 'wider_face_train_bbx_gt.txt:%d' % line in message
    for word in words:
        assert word in message


def test_empty_and_absent_files(tmp_path):
    with pytest.raises(UserError, match='no images'):
        parse_annotations(write(tmp_path, '\n\n'))
    with pytest.raises(UserError, match='not found'):
        parse_annotations(str(tmp_path / 'absent.txt'))


@pytest.fixture(scope='module')
def wider_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('wider'))
    make_synthetic_wider(root, 24, 8, seed=5, min_side=160, max_side=256, min_face=6, max_face=80)
    return root


def run_prepare(*args):
    return subprocess.run([sys.executable, PREPARE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)


def test_prepare_round_trip_keeps_every_face(wider_root, tmp_path):
    proc = run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(tmp_path), '--no-skip_invalid',
                       '--keep_empty')
    assert proc.returncode == 0, proc.stderr
    assert 'train: 24 images' in proc.stdout and 'dropped faces: 0 degenerate, 0 invalid, 0 small' in proc.stdout
    for split in ('train', 'val'):
        images = parse_annotations(os.path.join(wider_root, 'wider_face_split', 'wider_face_%s_bbx_gt.txt' % split))
        samples = dict(read_sample_list(str(tmp_path / ('%s.txt' % split))))
        assert len(samples) == len(images)
        for image in images:
            path = os.path.join(wider_root, 'WIDER_%s' % split, 'images', image.name)
            assert os.path.isfile(path)
            expected = np.concatenate([image.boxes[:, :2], image.boxes[:, :2] + image.boxes[:, 2:]], 1)
            np.testing.assert_array_equal(samples[path], expected.astype(np.float32))


def test_prepare_defaults_drop_invalid_and_empty(wider_root, tmp_path):
    samples, stats = convert_split(wider_root, 'train')
    images = parse_annotations(os.path.join(wider_root, 'wider_face_split', 'wider_face_train_bbx_gt.txt'))
    valid = sum(int((im.labels[:, 3] == 0).sum()) for im in images)
    assert stats.faces == valid == sum(len(b) for _, b in samples)
    assert all(len(b) for _, b in samples)
    assert stats.empty_skipped == sum(1 for im in images if not (im.labels[:, 3] == 0).any())


def test_missing_images_error_then_allow_missing(wider_root, tmp_path):
    root = str(tmp_path / 'w')
    shutil.copytree(wider_root, root)
    images = parse_annotations(os.path.join(root, 'wider_face_split', 'wider_face_train_bbx_gt.txt'))
    for image in images[1:3]:
        os.remove(os.path.join(root, 'WIDER_train', 'images', image.name))
    proc = run_prepare('--wider_root=' + root, '--out_dir=' + str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and '2 of 24 images' in proc.stderr
    assert '%s (line %d)' % (images[1].name, images[1].line) in proc.stderr
    assert not os.path.exists(str(tmp_path / 'train.txt'))
    proc = run_prepare('--wider_root=' + root, '--out_dir=' + str(tmp_path), '--allow_missing', '--keep_empty')
    assert proc.returncode == 0, proc.stderr
    assert 'train: 22 images' in proc.stdout and '2 missing' in proc.stdout


def test_a_broken_val_split_changes_no_list(wider_root, tmp_path):
    """Both lists are written only after both splits parse: break the val split (parsed second), and neither the
    old train.txt nor the old val.txt changes."""
    root = str(tmp_path / 'w')
    shutil.copytree(wider_root, root)
    out = tmp_path / 'lists'
    out.mkdir()
    (out / 'train.txt').write_text('old train\n')
    (out / 'val.txt').write_text('old val\n')
    val_gt = os.path.join(root, 'wider_face_split', 'wider_face_val_bbx_gt.txt')
    with open(val_gt, 'a') as f:
        f.write('0--Parade/extra.jpg\n1\n1 2 3\n')
    proc = run_prepare('--wider_root=' + root, '--out_dir=' + str(out), '--overwrite')
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'wider_face_val_bbx_gt.txt' in proc.stderr
    assert (out / 'train.txt').read_text() == 'old train\n' and (out / 'val.txt').read_text() == 'old val\n'
    assert sorted(os.listdir(str(out))) == ['train.txt', 'val.txt']


def test_prepare_replaces_only_lists_it_wrote(wider_root, tmp_path):
    """A train.txt / val.txt this tool did not write (or that was edited since) is never replaced without
    --overwrite; its own, unchanged, are (re-running the command works)."""
    out = tmp_path / 'lists'
    out.mkdir()
    (out / 'val.txt').write_text('my own list\n')
    proc = run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(out))
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1
    assert 'val.txt exists and was not written by prepare_wider_data' in proc.stderr and '--overwrite' in proc.stderr
    assert (out / 'val.txt').read_text() == 'my own list\n' and not (out / 'train.txt').exists()
    assert run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(out), '--overwrite').returncode == 0
    written = (out / 'train.txt').read_text()
    assert run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(out)).returncode == 0  # its own: replaced
    assert (out / 'train.txt').read_text() == written
    (out / 'train.txt').write_text(written + 'an edit\n')
    proc = run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(out))
    assert proc.returncode == 2 and 'train.txt exists and was not written by prepare_wider_data' in proc.stderr
    assert (out / 'train.txt').read_text().endswith('an edit\n')


def test_non_utf8_annotations_and_unwritable_out_dir_are_one_line(wider_root, tmp_path):
    root = str(tmp_path / 'w')
    shutil.copytree(wider_root, root)
    train_gt = os.path.join(root, 'wider_face_split', 'wider_face_train_bbx_gt.txt')
    with open(train_gt, 'rb') as f:
        lines = f.read().split(b'\n')
    lines[0] = lines[0].replace(b'.jpg', b'\xe9.jpg')
    with open(train_gt, 'wb') as f:
        f.write(b'\n'.join(lines))
    proc = run_prepare('--wider_root=' + root, '--out_dir=' + str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1
    assert 'wider_face_train_bbx_gt.txt:1: not UTF-8 text' in proc.stderr
    blocked = tmp_path / 'file'
    blocked.write_text('x')
    proc = run_prepare('--wider_root=' + wider_root, '--out_dir=' + str(blocked / 'lists'))
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'is not writable' in proc.stderr


def test_nothing_left_is_an_error(wider_root):
    with pytest.raises(UserError, match='no images left'):
        convert_split(wider_root, 'val', min_size=1000)


def test_prepare_help():
    proc = run_prepare('--help')
    assert proc.returncode == 0 and '--no-skip_invalid' in proc.stdout
