"""tools/wider.py result folders: nothing but <event>/<name>.txt inside (record and locks beside), read alike by the
reference evaluator; unique result names; one lock per shard; Ctrl-C and a full disk end in one line; --is_show."""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from export_graphs import ROOT, fake_detector_pb
from lib.common.errors import UserError
from lib.common.outputs import MARKER, record_path
from lib.data.synthetic import make_synthetic_wider
from lib.inference import wider as wi
from lib.inference.detector import FaceDetector

WIDER = os.path.join(ROOT, 'tools', 'wider.py')
REFERENCE = os.path.join(os.path.dirname(ROOT), 'shared', 'reference', 'WiderFace-Evaluation')
HOLD = ('import sys, time; sys.path.insert(0, %r)\n'
        'from lib.inference.wider import result_lock\n'
        'with result_lock(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])):\n'
        '    print("held", flush=True); time.sleep(120)\n') % ROOT


def listing(folder):
    return sorted(os.path.relpath(os.path.join(d, n), folder) for d, _, names in os.walk(folder) for n in names)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('syn'))
    make_synthetic_wider(root, 0, 6, seed=2, min_side=64, max_side=128, min_face=8, max_face=40, max_faces=3)
    return root, os.path.join(root, 'WIDER_val'), fake_detector_pb(os.path.join(root, 'fake.pb'), bright_score=0.7,
                                                                   fixed=[(5, 5, 30, 40, 0.4)])


def run_wider(*args, **kwargs):
    return subprocess.run([sys.executable, WIDER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=ROOT, timeout=300, **kwargs)


def test_folder_holds_only_results_and_unreadable_marks_live_beside(synthetic, tmp_path):
    _, data_dir, pb = synthetic
    items = wi.list_images(data_dir)
    broken = items[0]._replace(path=str(tmp_path / 'missing.jpg'))
    result = wi.claim_result_dir(str(tmp_path / 'result'))
    with FaceDetector(pb, threads=1) as detector:
        wi.run_wider(detector, [broken] + items[1:], result, progress=False)
        assert listing(result) == sorted('%s/%s.txt' % (i.event, i.name) for i in items)
        with open(record_path(result)) as f:
            assert json.load(f) == {'tool': 'wider', 'unreadable': {
                '%s/%s.txt' % (broken.event, broken.name): broken.path}}
        summary = wi.run_wider(detector, items, result, skip_existing=True, progress=False)  # the image is back
    assert (summary.written, summary.skipped) == (1, len(items) - 1)
    with open(record_path(result)) as f:
        assert json.load(f) == {'tool': 'wider', 'unreadable': {}}
    assert listing(result) == sorted('%s/%s.txt' % (i.event, i.name) for i in items)


def test_a_folder_of_an_earlier_version_is_ours_and_its_markers_move_out(tmp_path):
    result = tmp_path / 'old'
    (result / '0--E').mkdir(parents=True)
    (result / MARKER).write_text('{"tool": "wider"}')
    (result / '0--E' / 'a.txt').write_text('a\n0\n')
    (result / '0--E' / 'a.txt.unreadable').write_text('/data/a.jpg\n')
    (result / '0--E' / 'b.txt').write_text('b\n0\n')
    wi.claim_result_dir(str(result))
    assert listing(str(result)) == ['0--E/a.txt', '0--E/b.txt']
    with open(record_path(str(result))) as f:
        assert json.load(f) == {'tool': 'wider', 'unreadable': {'0--E/a.txt': '/data/a.jpg'}}
    other = tmp_path / 'other'
    (other / '0--E').mkdir(parents=True)
    (other / '0--E' / 'x.txt').write_text('x')
    with pytest.raises(UserError, match='did not make'):
        wi.claim_result_dir(str(other))


def reference_evaluator(tmp_path):
    """The reference evaluator built in a temp folder, with a stub IPython; skipped where ../shared lacks it."""
    if not os.path.isfile(os.path.join(REFERENCE, 'evaluation.py')):
        pytest.skip('reference evaluator not found at %s' % REFERENCE)
    folder = str(tmp_path / 'reference')
    shutil.copytree(REFERENCE, folder)
    os.makedirs(os.path.join(folder, 'stub', 'IPython'))
    with open(os.path.join(folder, 'stub', 'IPython', '__init__.py'), 'w') as f:
        f.write('def embed(*args, **kwargs):\n    pass\n')
    build = subprocess.run([sys.executable, 'setup.py', 'build_ext', '--inplace'], cwd=folder,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:]
    return folder


def aps(text, pattern):
    return [float(value) for value in re.findall(pattern, text)]


SQUARES = [('0--Parade', 'img_1', (60, 50, 40, 40), (60, 50, 40, 40)),   # event, name, square, face: found
           ('0--Parade', 'img_2', (80, 20, 30, 30), (82, 20, 30, 36)),   # found (IoU 0.83)
           ('1--Handshaking', 'img_3', (70, 70, 20, 20), (10, 60, 30, 30)),  # a false box, a missed face
           ('1--Handshaking', 'img_4', (50, 50, 50, 50), (40, 40, 50, 50))]  # IoU 0.47: missed


def squares_set(root):
    """Dark images with one bright square each (what the fake graph detects) and their ground-truth .mat files,
    so the AP is neither 0 nor 1 (the fake's fixed 0.4 box at (5, 5) is a false positive everywhere)."""
    from lib.data.wider import WiderImage
    from lib.data.wider_mat import write_ground_truth
    images = []
    for event, name, (x, y, w, h), face in SQUARES:
        os.makedirs(os.path.join(root, 'WIDER_val', 'images', event), exist_ok=True)
        image = np.full((128, 160, 3), 30, np.uint8)
        image[y:y + h, x:x + w] = 250
        cv2.imwrite(os.path.join(root, 'WIDER_val', 'images', event, name + '.jpg'), image)
        images.append(WiderImage('%s/%s.jpg' % (event, name), np.array([face], np.float32),
                                 np.zeros((1, 6), np.int64), ''))
    write_ground_truth(os.path.join(root, 'gt'), images)
    return os.path.join(root, 'WIDER_val'), os.path.join(root, 'gt')


def test_reference_evaluator_reads_a_result_folder_and_agrees_with_ours(synthetic, tmp_path):
    pb = synthetic[2]
    data_dir, gt = squares_set(str(tmp_path))
    folder = reference_evaluator(tmp_path)
    result = str(tmp_path / 'result')
    run = run_wider('--model=' + pb, '--data_dir=' + data_dir, '--result=' + result, '--threads=1', '--no_progress')
    assert run.returncode == 0, run.stderr
    env = dict(os.environ, PYTHONPATH=os.path.join(folder, 'stub'))
    # Its Cython file uses np.float, gone from numpy >= 1.24: the old alias is put back for it.
    run_it = ('import sys, runpy, numpy; sys.path.insert(0, ".")\n'
              'for name, kind in (("float", float), ("int", int), ("bool", bool)):\n'
              '    numpy.__dict__.setdefault(name, kind)\n'
              'sys.argv = ["evaluation.py", "-p", %r, "-g", %r]\n'
              'runpy.run_path("evaluation.py", run_name="__main__")\n') % (result, gt)
    theirs = subprocess.run([sys.executable, '-c', run_it], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    ours = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'ap_eval', 'evaluation.py'), '-p', result,
                           '-g', gt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          cwd=ROOT, timeout=300)
    assert ours.returncode == 0, ours.stderr
    reference_aps = aps(theirs.stdout, r'Val AP: ([0-9.e-]+)')
    our_aps = aps(ours.stdout, r'Val AP: ([0-9.e-]+)')
    assert len(reference_aps) == len(our_aps) == 3 and 0.1 < min(our_aps) and max(our_aps) < 0.9, ours.stdout
    decimals = min(len(m) for m in re.findall(r'Val AP: [0-9]*\.([0-9]+)', ours.stdout))
    assert [round(v, decimals) for v in reference_aps] == [round(v, decimals) for v in our_aps]


def test_two_images_with_one_result_name_are_refused_before_any_work(tmp_path):
    event = tmp_path / 'images' / '0--E'
    event.mkdir(parents=True)
    for name in ('a.jpg', 'a.png', 'b.jpg'):
        cv2.imwrite(str(event / name), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError) as err:
        wi.list_images(str(tmp_path))
    assert str(event / 'a.jpg') in str(err.value) and str(event / 'a.png') in str(err.value)
    assert '0--E/a.txt' in str(err.value)


@pytest.mark.parametrize('held, mine, refused', [
    ((0, 2), (0, 2), True), ((0, 2), (0, 1), True), ((0, 1), (1, 2), True), ((0, 2), (1, 2), False),
    ((0, 2), (1, 4), False), ((1, 2), (3, 4), True)])
def test_one_lock_per_shard_refuses_only_overlapping_runs(tmp_path, held, mine, refused):
    result = str(tmp_path / 'result')
    holder = subprocess.Popen([sys.executable, '-c', HOLD, result, str(held[0]), str(held[1])],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b'held'
        if refused:
            with pytest.raises(UserError) as err:
                with wi.result_lock(result, *mine):
                    pass
            assert 'pid %d' % holder.pid in str(err.value)
        else:
            with wi.result_lock(result, *mine):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert not os.path.exists(result)  # the locks lie beside the folder
    with wi.result_lock(result, *mine):  # a killed holder leaves no lock
        pass


STOP = ('import errno, os, signal, sys; sys.path.insert(0, %r)\n'
        'from lib.inference.detector import FaceDetector\n'
        'import lib.evaluation.results as results\n'
        'calls, fault = [], sys.argv[1]\n'
        'def stop(*args):\n'
        '    calls.append(1)\n'
        '    if len(calls) == 3:\n'
        '        if fault == "int": os.kill(os.getpid(), signal.SIGINT)\n'
        '        else: raise OSError(errno.ENOSPC, "No space left on device")\n'
        '    return original(*args)\n'
        'original = results.write_text\n'
        'results.write_text = stop\n'
        'sys.argv = [%r] + sys.argv[2:]\n'
        'exec(compile(open(%r).read(), %r, "exec"), {"__name__": "__main__", "__file__": %r})\n'
        ) % (ROOT, WIDER, WIDER, WIDER, WIDER)


@pytest.mark.parametrize('fault, code, says', [('int', 130, 'interrupted: 2 result files written to %s are kept'),
                                               ('nospace', 2, 'the disk is full (No space left on device): 2 '
                                                'result files written to %s are kept')])
def test_ctrl_c_and_a_full_disk_end_in_one_line(synthetic, tmp_path, fault, code, says):
    _, data_dir, pb = synthetic
    result = str(tmp_path / 'result')
    run = subprocess.run([sys.executable, '-c', STOP, fault, '--model=' + pb, '--data_dir=' + data_dir,
                          '--result=' + result, '--threads=1', '--no_progress'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT, timeout=300)
    assert run.returncode == code, run.stderr
    assert 'Traceback' not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert says % result in last and last.endswith('--skip_existing')
    assert len(listing(result)) == 2
    resumed = run_wider('--model=' + pb, '--data_dir=' + data_dir, '--result=' + result, '--threads=1',
                        '--no_progress', '--skip_existing')
    assert resumed.returncode == 0 and 'wrote 4 result files' in resumed.stdout and 'kept 2 existing' in resumed.stdout


@pytest.mark.parametrize('value, on', [(None, True), ('True', True), ('1', True), ('False', False), ('0', False),
                                       ('no', False)])
def test_is_show_values(value, on):
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    try:
        import wider as tool
    finally:
        sys.path.pop(0)
    argv = ['--model=m', '--data_dir=d', '--result=r', '--is_show'] + ([] if value is None else [value])
    assert tool.parse_args(argv).is_show is on
    assert tool.parse_args(['--model=m', '--data_dir=d', '--result=r']).is_show is False


def test_is_show_without_a_display_writes_pictures_beside_the_result(synthetic, tmp_path):
    _, data_dir, pb = synthetic
    result = str(tmp_path / 'result')
    env = dict(os.environ)
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    run = run_wider('--model=' + pb, '--data_dir=' + data_dir, '--result=' + result, '--threads=1', '--no_progress',
                    '--is_show', env=env)
    assert run.returncode == 0, run.stderr
    show = result + '.show'
    assert '--is_show: the pictures go to %s' % show in run.stdout
    items = wi.list_images(data_dir)
    assert listing(show) == sorted([MARKER] + ['%s/%s' % (i.event, os.path.basename(i.path)) for i in items])
    assert listing(result) == sorted('%s/%s.txt' % (i.event, i.name) for i in items)
    item = items[0]
    picture = cv2.imread(os.path.join(show, item.event, os.path.basename(item.path)))
    edge = picture[5, 10:25].astype(int)  # the top edge of the 0.4 box (drawn: above 0.3), green in BGR
    assert (edge[:, 1] - edge[:, 2]).mean() > 60 and not np.array_equal(picture, cv2.imread(item.path))
    inside = run_wider('--model=' + pb, '--data_dir=' + data_dir, '--result=' + result, '--is_show',
                       '--show_dir=' + os.path.join(result, 'pics'), '--skip_existing')
    assert inside.returncode == 2 and 'overlaps' in inside.stderr.splitlines()[-1]
