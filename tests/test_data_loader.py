"""BatchLoader: batch layout, reproducibility, worker partitioning and seeding, failures and shutdown."""
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import zip_same
from lib.data.loader import BatchLoader, WorkerError, epoch_order
from lib.data.synthetic import make_synthetic_wider
from lib.data.wider import convert_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = (96, 128)
PREP = dict(pixel_mean=(123.675, 116.28, 103.53), anchor_sizes=(16, 32, 64, 128, 256, 512))


@pytest.fixture(scope='module')
def samples(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('loader'))
    make_synthetic_wider(root, 16, 0, seed=3, min_side=160, max_side=256, min_face=12, max_face=80)
    return convert_split(root, 'train', keep_empty=True)[0]


@pytest.fixture(autouse=True)
def no_hang():
    """A loader bug must fail the test, not hang the suite."""
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(RuntimeError('test timed out')))
    signal.alarm(60)
    yield
    signal.alarm(0)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open('/proc/%d/stat' % pid) as f:
        return f.read().split(')')[-1].split()[0] != 'Z'


def count_targets(boxes):
    return {'num_faces': np.array(len(boxes), np.int32), 'grid': np.full((3, 4), len(boxes), np.float32)}


def collect(loader, epoch):
    return list(loader.epoch(epoch))


def test_cluster_shards_split_each_global_batch_of_the_epoch_order(samples):
    """Shard k of 3 at step s trains slice k of global batch s of epoch_order(seed, epoch): disjoint shards."""
    paths = [path for path, _ in samples]
    for epoch in (0, 1):
        order = epoch_order(len(samples), 7, epoch)
        assert sorted(order.tolist()) == list(range(len(samples)))
        trained = []
        for shard in range(3):
            with BatchLoader(samples, 2, SIZE, True, **PREP, seed=7, shard=(shard, 3)) as loader:
                assert len(loader) == len(samples) // 6
                batches = collect(loader, epoch)
            assert [b['paths'] for b in batches] == [[paths[i] for i in order[(s * 3 + shard) * 2:][:2]]
                                                     for s in range(len(loader))]
            trained += sum((b['paths'] for b in batches), [])
        assert sorted(trained) == sorted(paths[i] for i in order[:len(samples) // 6 * 6])
    assert not np.array_equal(epoch_order(16, 7, 0), epoch_order(16, 7, 1))


def test_batch_layout_and_targets(samples):
    with BatchLoader(samples, 4, SIZE, True, **PREP, target_fn=count_targets, seed=1) as loader:
        assert len(loader) == 4
        batches = collect(loader, 0)
    assert len(batches) == 4
    for batch in batches:
        assert batch['images'].shape == (4,) + SIZE + (3,) and batch['images'].dtype == np.uint8
        assert len(batch['boxes']) == len(batch['paths']) == 4
        assert all(b.dtype == np.float32 and b.shape[1:] == (4,) for b in batch['boxes'])
        assert batch['num_faces'].shape == (4,) and batch['grid'].shape == (4, 3, 4)
        np.testing.assert_array_equal(batch['num_faces'], [len(b) for b in batch['boxes']])


def test_validation_keeps_order_and_every_sample(samples):
    with BatchLoader(samples, 5, SIZE, False, **PREP, process_num=2, prefetch_size=2) as loader:
        assert len(loader) == 4
        batches = collect(loader, 0)
    assert [len(b['paths']) for b in batches] == [5, 5, 5, 1]
    assert sum((b['paths'] for b in batches), []) == [p for p, _ in samples]


def test_in_process_reproducible_and_equal_to_one_worker(samples):
    def run(**kwargs):
        with BatchLoader(samples, 4, SIZE, True, **PREP, target_fn=count_targets, seed=5, **kwargs) as loader:
            return collect(loader, 2)

    a, b, one = run(), run(), run(process_num=1)
    for x, y, z in zip_same(a, b, one):
        assert x['paths'] == y['paths'] == z['paths']
        np.testing.assert_array_equal(x['images'], y['images'])
        np.testing.assert_array_equal(x['images'], z['images'])
        np.testing.assert_array_equal(x['grid'], z['grid'])
        for bx, bz in zip_same(x['boxes'], z['boxes']):
            np.testing.assert_array_equal(bx, bz)


def test_no_sample_repeated_within_an_epoch(samples):
    with BatchLoader(samples, 3, SIZE, True, **PREP, process_num=3, seed=2) as loader:
        for epoch in (0, 1):
            paths = sum((b['paths'] for b in loader.epoch(epoch)), [])
            assert len(paths) == 15 == len(set(paths))


@pytest.mark.parametrize('process_num', [0, 2])
def test_resumed_epoch_is_the_tail_of_the_full_epoch(samples, process_num):
    """epoch(e, skip=s) yields exactly batches s.. of epoch(e): same samples, same augmentation, in-process or
    with workers; the order is epoch_order(n, seed, e) whatever the loader did before."""
    with BatchLoader(samples, 2, SIZE, True, **PREP, process_num=process_num, seed=5) as loader:
        full = collect(loader, 3)
        tail = list(loader.epoch(3, skip=5))
    assert len(full) == 8 and len(tail) == 3
    for a, b in zip_same(full[5:], tail):
        assert a['paths'] == b['paths']
        np.testing.assert_array_equal(a['images'], b['images'])
    order = epoch_order(len(samples), 5, 3)
    assert sum((b['paths'] for b in full), []) == [samples[i][0] for i in order]
    assert sorted(order) == list(range(len(samples))) and list(order) != list(epoch_order(len(samples), 5, 4))


def test_workers_are_seeded_differently(samples):
    same = [samples[0]] * 8
    with BatchLoader(same, 1, SIZE, True, **PREP, process_num=2, seed=4) as loader:
        first = [b['images'] for b in loader.epoch(0)]
        second = [b['images'] for b in loader.epoch(1)]
    worker0, worker1 = first[0::2], first[1::2]
    assert any(not np.array_equal(p, q) for p, q in zip_same(worker0, worker1))
    assert any(not np.array_equal(p, q) for p, q in zip_same(first, second))


def test_abandoned_epoch_then_full_epoch(samples):
    with BatchLoader(samples, 2, SIZE, True, **PREP, process_num=2, prefetch_size=4) as loader:
        iterator = loader.epoch(0)
        next(iterator)
        del iterator
        paths = sum((b['paths'] for b in loader.epoch(1)), [])
        assert len(paths) == 16 == len(set(paths))


def test_close_ends_every_worker(samples):
    loader = BatchLoader(samples, 2, SIZE, True, **PREP, process_num=2)
    pids = loader.pids
    assert len(pids) == 2 and all(alive(p) for p in pids)
    next(iter(loader.epoch(0)))
    loader.close()
    assert not any(alive(p) for p in pids)
    loader.close()
    with pytest.raises(WorkerError, match='closed'):
        next(iter(loader.epoch(1)))


def failing_target(boxes):
    raise ValueError('target assignment exploded')


def test_worker_exception_surfaces_and_ends_workers(samples):
    loader = BatchLoader(samples, 2, SIZE, True, **PREP, target_fn=failing_target, process_num=2)
    pids = loader.pids
    with pytest.raises(WorkerError, match='target assignment exploded'):
        collect(loader, 0)
    assert not any(alive(p) for p in pids)


def test_killed_worker_is_an_error_not_a_hang(samples):
    loader = BatchLoader(samples, 2, SIZE, True, **PREP, process_num=2)
    os.kill(loader.pids[1], signal.SIGKILL)
    with pytest.raises(WorkerError, match='died'):
        collect(loader, 0)


@pytest.mark.parametrize('process_num', [0, 2])
def test_corrupt_and_missing_images_are_skipped(samples, tmp_path, caplog, process_num):
    corrupt = str(tmp_path / 'corrupt.jpg')
    with open(corrupt, 'wb') as f:
        f.write(b'\xff\xd8 this is not a jpeg')
    broken = samples[:5] + [(corrupt, np.zeros((0, 4), np.float32)),
                            (str(tmp_path / 'missing.jpg'), np.zeros((0, 4), np.float32))]
    with caplog.at_level(logging.WARNING, logger='lib.data.loader'):
        with BatchLoader(broken, 7, SIZE, True, **PREP, process_num=process_num) as loader:
            batch, = collect(loader, 0)
            assert batch['images'].shape[0] == 7  # training batches keep their size
            assert loader.skipped == 2 and len(loader) == 0  # both left out from now on
        with BatchLoader(broken, 4, SIZE, False, **PREP, process_num=process_num) as loader:
            paths = sum((b['paths'] for b in loader.epoch(0)), [])
            assert paths == [p for p, _ in samples[:5]] and loader.skipped == 2
    if process_num == 0:
        warnings = [r.getMessage() for r in caplog.records if 'unreadable' in r.getMessage()]
        assert len(warnings) == 4 and any('corrupt.jpg' in w for w in warnings)


SCRIPT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started from a background job
sys.path.insert(0, %r)
from lib.data.loader import BatchLoader
from lib.data.wider import convert_split
samples = convert_split(%r, 'train', keep_empty=True)[0]
loader = BatchLoader(samples, 2, (64, 64), True, pixel_mean=(0, 0, 0), anchor_sizes=(16, 32), process_num=2)
print(' '.join(str(p) for p in loader.pids), flush=True)
epoch = 0
while True:
    for batch in loader.epoch(epoch):
        if epoch == 0:
            print('batch', flush=True)  # the workers are busy: the test interrupts now
        time.sleep(0.01)
    epoch += 1
"""


def test_ctrl_c_leaves_no_orphans(samples):
    wider_root = samples[0][0].split(os.sep + 'WIDER_train' + os.sep)[0]
    proc = subprocess.Popen([sys.executable, '-c', SCRIPT % (ROOT, wider_root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    assert proc.stdout.readline().strip() == 'batch'  # bounded by the no_hang alarm
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # a hang fails; 20 s once ran out on a loaded machine
    assert 'KeyboardInterrupt' in err
    deadline = time.time() + 5
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)


def big_targets(boxes):
    return {'big': np.full(200000, len(boxes), np.float32), 'small': np.array([len(boxes)], np.int64)}


def test_targets_too_big_for_shared_memory_still_arrive(samples):
    with BatchLoader(samples, 4, SIZE, True, **PREP, target_fn=big_targets, process_num=1, seed=6) as loader:
        batches = collect(loader, 0)
    with BatchLoader(samples, 4, SIZE, True, **PREP, target_fn=big_targets, seed=6) as loader:
        expected = collect(loader, 0)
    for got, want in zip_same(batches, expected):
        np.testing.assert_array_equal(got['big'], want['big'])
        np.testing.assert_array_equal(got['small'][:, 0], [len(b) for b in got['boxes']])
