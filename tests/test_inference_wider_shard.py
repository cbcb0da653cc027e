"""tools/wider.py --shard / --workers: a deterministic split of the sorted image list; three shards written by
three processes into one folder are byte-identical to one unsharded run (evaluation.py reads it unchanged)."""
import os
import subprocess
import sys

import pytest

from export_graphs import ROOT, fake_detector_pb
from lib.common.errors import UserError
from lib.data.synthetic import make_synthetic_wider
from lib.inference import wider as wi
from lib.inference.detector import FaceDetector


def _files(folder):
    """{relative path: bytes} of every file under ``folder``."""
    out = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_shards_are_disjoint_cover_and_ignore_input_order():
    items = [wi.ImageItem('%d--E' % (i % 3), 'img_%d' % i, '/x/%d.jpg' % i) for i in range(10)]
    shards = [wi.shard_items(items, i, 3) for i in range(3)]
    assert sorted(sum(shards, [])) == sorted(items)
    assert sum(len(s) for s in shards) == len(items) and [len(s) for s in shards] == [4, 3, 3]
    assert [wi.shard_items(items[::-1], i, 3) for i in range(3)] == shards
    with pytest.raises(UserError, match='shard 3/3'):
        wi.shard_items(items, 3, 3)


def test_three_worker_processes_write_what_one_run_writes(tmp_path):
    root = str(tmp_path)
    make_synthetic_wider(root, 0, 7, seed=5, min_side=64, max_side=160, min_face=8, max_face=48, max_faces=3)
    data_dir = os.path.join(root, 'WIDER_val')
    pb = fake_detector_pb(os.path.join(root, 'fake.pb'), bright_score=0.7)
    whole, sharded = os.path.join(root, 'whole'), os.path.join(root, 'sharded')
    with FaceDetector(pb, threads=1) as detector:
        wi.run_wider(detector, wi.list_images(data_dir), whole, progress=False)
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'wider.py'), '--model=' + pb,
                          '--data_dir=' + data_dir, '--result=' + sharded, '--workers=3', '--threads=1'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stdout
    for shard in ('0/3', '1/3', '2/3'):  # each process wrote its own shard
        assert 'wrote %d result files' % len(wi.shard_items(wi.list_images(data_dir), int(shard[0]), 3)) \
            in run.stdout
    expected = _files(whole)
    assert len(expected) == 7 and any(b'0.700' in text for text in expected.values())
    assert _files(sharded) == expected


def test_bad_shard_and_a_failing_worker(tmp_path):
    (tmp_path / 'data' / 'images' / '0--E').mkdir(parents=True)
    (tmp_path / 'data' / 'images' / '0--E' / 'a.jpg').write_bytes(b'x')
    script = [sys.executable, os.path.join(ROOT, 'tools', 'wider.py'), '--model=' + str(tmp_path / 'none.pb'),
              '--data_dir=' + str(tmp_path / 'data'), '--result=' + str(tmp_path / 'r')]
    bad = subprocess.run(script + ['--shard=3/3'], stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert bad.returncode == 2 and 'expected I/N with 0 <= I < N' in bad.stderr
    failing = subprocess.run(script + ['--workers=2'], stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert failing.returncode == 2 and 'process of shard' in failing.stderr.splitlines()[-1]
