"""Batches for training and validation, made in worker processes.

The parent decides each epoch's order (``epoch_order``: a function of (seed, epoch) only) and splits it into
batches; batch b goes to worker b % process_num (so no sample is repeated within an epoch) and comes back in
order. Batch b of epoch e is augmented with a RandomState seeded by (seed, e, b), so a batch is the same whatever
process_num is and whichever batches came before it: ``epoch(e, skip=s)`` yields exactly the batches s, s+1, ...
of the full epoch, which is how a resumed training continues the sample sequence of an uninterrupted one. At most ``prefetch_size`` batches (at least one a worker) are in flight; their arrays
come back through shared memory, not pickled through a pipe. Workers ignore SIGINT (the parent
handles Ctrl-C), exit when the parent dies, and are ended by close(); an exception in a worker (say in
target_fn) is raised in the parent as WorkerError with the worker's traceback.
"""
import logging
import math
import mmap
import multiprocessing
import os
import signal
import time
import traceback

import cv2
import numpy as np

from lib.common.image import MAX_IMAGE_PIXELS, letterbox, read_image
from lib.data.augment import augment_train

log = logging.getLogger(__name__)
POLL_S = 0.2


class WorkerError(RuntimeError):
    """A data worker failed or died; the message carries its traceback."""


class BatchMaker(object):
    """Turns sample indices into a batch dict; runs in the parent (process_num=0) or in a worker."""

    def __init__(self, samples, input_size, training, target_fn, pixel_mean, anchor_sizes,
                 max_image_pixels=MAX_IMAGE_PIXELS):
        self.samples = samples
        self.input_size = input_size
        self.training = training
        self.target_fn = target_fn
        self.pixel_mean = pixel_mean
        self.anchor_sizes = anchor_sizes
        self.max_image_pixels = max_image_pixels

    def sample(self, index, rng):
        """(image, boxes) ready for the network, or None when the image cannot be read."""
        path, boxes = self.samples[index]
        image = read_image(path, self.max_image_pixels)
        if image is None:
            log.warning('skipping unreadable image %s', path)
            return None
        if self.training:
            return augment_train(image, boxes, self.input_size, rng, self.pixel_mean, self.anchor_sizes)
        out, out_boxes, _ = letterbox(image, self.input_size, self.pixel_mean, boxes)
        return out, out_boxes

    def batch(self, indices, rng):
        """(batch dict or None, indices found unreadable). In training a batch keeps its size: an unreadable
        sample is replaced by another augmentation of a readable one; in validation it is left out."""
        made, used, bad = [], [], []
        for index in indices:
            item = self.sample(index, rng)
            if item is None:
                bad.append(index)
            else:
                made.append(item)
                used.append(index)
        if self.training and bad:
            pool = list(used) or [i for i in rng.permutation(len(self.samples))[:20] if i not in bad]
            while len(made) < len(indices) and pool:
                index = pool[rng.randint(len(pool))]
                item = self.sample(index, rng)
                if item is None:
                    bad.append(index)
                    pool.remove(index)
                    continue
                made.append(item)
                used.append(index)
            if len(made) < len(indices):
                raise WorkerError('no readable image among the samples tried: %s'
                                  % ', '.join(self.samples[i][0] for i in bad[:3]))
        if not made:
            return None, bad
        out = {'images': np.stack([m[0] for m in made]),
               'boxes': [m[1] for m in made],
               'paths': [self.samples[i][0] for i in used]}
        if self.target_fn is not None:
            targets = [self.target_fn(m[1]) for m in made]
            for key in targets[0]:
                out[key] = np.stack([t[key] for t in targets])
        return out, bad


class SlotBuffer(object):
    """Shared memory (an anonymous mmap created before fork) cut into fixed-size slots, so workers hand the
    big arrays of a batch to the parent without pickling them through a pipe. Arrays that do not fit the
    slot travel through the pipe instead (correct, just slower)."""
    ALIGN = 64

    def __init__(self, slots, slot_bytes):
        self.slot_bytes = int(slot_bytes)
        self.memory = mmap.mmap(-1, max(1, slots * self.slot_bytes))

    def pack(self, slot, batch):
        """Worker side: the batch with its ndarrays replaced by ('shm', dtype, shape, offset) where they fit."""
        packed, offset = {}, 0
        for key, value in batch.items():
            if isinstance(value, np.ndarray) and not value.dtype.hasobject and \
                    0 < value.nbytes <= self.slot_bytes - offset:
                start = slot * self.slot_bytes + offset
                np.frombuffer(self.memory, np.uint8, value.nbytes, start)[:] = \
                    np.ascontiguousarray(value).reshape(-1).view(np.uint8)
                packed[key] = ('shm', value.dtype.str, value.shape, start)
                offset += -(-value.nbytes // self.ALIGN) * self.ALIGN
            else:
                packed[key] = ('obj', value)
        return packed

    def unpack(self, packed):
        """Parent side: copy the arrays out of the slot (it is reused by the next task)."""
        batch = {}
        for key, item in packed.items():
            if item[0] == 'shm':
                _, dtype, shape, start = item
                count = int(np.prod(shape)) if shape else 1
                batch[key] = np.frombuffer(self.memory, np.dtype(dtype), count, start).reshape(shape).copy()
            else:
                batch[key] = item[1]
        return batch


def epoch_order(num_samples, seed, epoch):
    """The training order of epoch ``epoch``: a permutation of range(num_samples) that depends on (seed, epoch)
    only (not on the process, the workers or what ran before), so a resumed or sharded run can recompute it."""
    return np.random.RandomState([seed % (1 << 32), epoch, 0]).permutation(num_samples)


def batch_rng(seed, epoch, batch_index):
    """The augmentation RNG of batch ``batch_index`` of epoch ``epoch``."""
    return np.random.RandomState([seed % (1 << 32), epoch, batch_index, 1])


def _worker_main(maker, buffer, seed, tasks, results, parent_pid):
    """Worker loop: a task is (epoch, batch index, indices, slot) or None to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    while True:
        if not tasks.poll(POLL_S):
            if os.getppid() != parent_pid:
                return
            continue
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        epoch, batch_index, indices, slot = task
        try:
            batch, bad = maker.batch(indices, batch_rng(seed, epoch, batch_index))
            results.send(('ok', None if batch is None else buffer.pack(slot, batch), bad))
        except (IOError, OSError):  # the parent is gone or closed the pipe
            return
        except Exception:  # in the sample code or target_fn, or an unpicklable target: the parent raises it
            try:
                results.send(('error', traceback.format_exc(), None))
            except (IOError, OSError):
                return


class BatchLoader(object):
    """Batches of (augmented) images, boxes and anchor targets; see the module docstring."""

    def __init__(self, samples, batch_size, input_size, training, *, pixel_mean, anchor_sizes, target_fn=None,
                 process_num=0, prefetch_size=8, seed=0, shard=(0, 1), max_image_pixels=MAX_IMAGE_PIXELS):
        """samples: list of (image_path, boxes float32 [N,4] x1,y1,x2,y2 pixels). input_size: (h, w).
        training: augment + shuffle + drop the last partial batch; else letterbox only, fixed order, keep all.
        pixel_mean: the padding colour (the model's normalisation mean); anchor_sizes: the model's anchor sizes
        (data-anchor-sampling).
        target_fn: callable(boxes float32 [N,4] in input pixels) -> dict of np.ndarray (anchor labels and
        encoded boxes), computed in the workers; None -> no targets.
        shard: (index, count) of a training cluster (lib.train.distributed): step s of an epoch trains the
        global batch order[s*B*count:(s+1)*B*count] and this loader yields its index-th slice of B samples, so
        the workers read disjoint shards that together cover the epoch. In a cluster the order keeps the images
        found unreadable (each process learns of them separately); the batch maker replaces them.
        max_image_pixels: an image whose header declares more pixels is unreadable (never decoded)."""
        if batch_size < 1 or process_num < 0 or prefetch_size < 1 or not 0 <= shard[0] < shard[1]:
            raise ValueError('need batch_size >= 1, process_num >= 0, prefetch_size >= 1, 0 <= shard index < count')
        self.shard = (int(shard[0]), int(shard[1]))
        self.samples = list(samples)
        self.batch_size = int(batch_size)
        self.training = bool(training)
        self.process_num = int(process_num)
        self.seed = int(seed)
        self.bad = set()  # indices of unreadable images; left out of later epochs
        input_size = tuple(int(v) for v in input_size)
        self._maker = BatchMaker(self.samples, input_size, self.training, target_fn, tuple(pixel_mean),
                                 tuple(anchor_sizes), max_image_pixels)
        self._quota = max(1, prefetch_size // max(1, self.process_num))
        self._workers, self._outstanding, self._sent = [], [], []
        if self.process_num:
            # room for the images plus targets of about twice their size (anchor labels and offsets)
            image_bytes = self.batch_size * input_size[0] * input_size[1] * 3
            self._buffer = SlotBuffer(self.process_num * self._quota, image_bytes * (3 if target_fn else 1))
            self._start()

    @property
    def skipped(self):
        """How many distinct unreadable images were skipped so far."""
        return len(self.bad)

    def _start(self):
        """Fork the workers. OpenCV's thread pool does not survive fork (a child may deadlock on it), so it is
        shrunk to no threads while forking and restored after."""
        ctx = multiprocessing.get_context('fork')
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for worker_id in range(self.process_num):
                task_recv, task_send = ctx.Pipe(duplex=False)
                result_recv, result_send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker_main, name='data-worker-%d' % worker_id,
                                   args=(self._maker, self._buffer, self.seed, task_recv, result_send, os.getpid()))
                proc.daemon = True
                proc.start()
                task_recv.close()
                result_send.close()
                self._workers.append((proc, task_send, result_recv))
                self._outstanding.append(0)
                self._sent.append(0)
        finally:
            cv2.setNumThreads(threads)

    @property
    def pids(self):
        """Process ids of the live workers (empty in-process)."""
        return [proc.pid for proc, _, _ in self._workers]

    def _order(self, index):
        order = epoch_order(len(self.samples), self.seed, index) if self.training \
            else np.arange(len(self.samples), dtype=np.int64)
        if self.shard[1] == 1 and self.bad:
            order = order[~np.isin(order, sorted(self.bad))]
        return order

    def __len__(self):
        if self.training:
            return len(self._order(0)) // (self.batch_size * self.shard[1])
        return int(math.ceil((len(self.samples) - len(self.bad)) / float(self.batch_size)))

    def _batches(self, index):
        order, size = self._order(index), self.batch_size
        if not self.training:
            return [order[b * size:(b + 1) * size].tolist() for b in range(len(self))]
        shard, count = self.shard
        return [order[(b * count + shard) * size:(b * count + shard + 1) * size].tolist()
                for b in range(len(order) // (size * count))]

    def epoch(self, index, skip=0):
        """Iterator over the batches of epoch ``index`` from batch ``skip`` on (a resumed epoch); one epoch iterator
        at a time (starting a new one drops what is left of the previous)."""
        shard, count = self.shard  # batch b of shard k is global batch b * count + k: its own augmentation RNG
        batches = [(b * count + shard, indices) for b, indices in enumerate(self._batches(index))][skip:]
        if not self.process_num:
            for batch_index, indices in batches:
                batch, bad = self._maker.batch(indices, batch_rng(self.seed, index, batch_index))
                self.bad.update(bad)
                if batch is not None:
                    yield batch
            return
        if not self._workers:
            raise WorkerError('the loader is closed')
        self._drain()
        n = self.process_num
        queues = [batches[k::n] for k in range(n)]
        done = [0] * n

        def feed(k):
            while self._outstanding[k] < self._quota and done[k] < len(queues[k]):
                slot = k * self._quota + self._sent[k] % self._quota
                batch_index, indices = queues[k][done[k]]
                self._send(k, (index, batch_index, indices, slot))
                done[k] += 1
                self._sent[k] += 1
                self._outstanding[k] += 1

        for k in range(n):
            feed(k)
        for b in range(len(batches)):
            k = b % n
            batch = self._receive(k)
            feed(k)
            if batch is not None:
                yield batch

    def _send(self, k, task):
        try:
            self._workers[k][1].send(task)
        except (IOError, OSError):
            raise self._died(k)

    def _died(self, k):
        """End all workers; the error to raise for worker k having died."""
        proc = self._workers[k][0]
        proc.join(0.5)
        self.close()
        return WorkerError('data worker %d died (exit code %s)' % (k, proc.exitcode))

    def _receive(self, k):
        """The next batch of worker k (None if it had no readable image); raises WorkerError (after ending all
        workers) if the worker failed or died."""
        if not self._workers:
            raise WorkerError('the loader is closed')
        proc, _, results = self._workers[k]
        while not results.poll(POLL_S):
            if not proc.is_alive():
                raise self._died(k)
        try:
            status, payload, bad = results.recv()
        except EOFError:
            raise self._died(k)
        self._outstanding[k] -= 1
        if status == 'error':
            self.close()
            raise WorkerError('data worker %d failed:\n%s' % (k, payload))
        self.bad.update(bad)
        return None if payload is None else self._buffer.unpack(payload)

    def _drain(self):
        """Discard the results of an abandoned epoch so the next one starts clean."""
        for k in range(len(self._workers)):
            while self._outstanding[k]:
                self._receive(k)

    def close(self):
        """End all workers (politely, then by force); safe to call twice."""
        workers, self._workers, self._outstanding = self._workers, [], []
        for _, tasks, _ in workers:
            try:
                tasks.send(None)
            except (IOError, OSError):
                pass
        deadline = time.time() + 2.0
        for proc, _, results in workers:
            while proc.is_alive() and time.time() < deadline:
                try:  # a worker blocked sending a result needs it read before it can see the stop
                    if results.poll(0.05):
                        results.recv()
                except (EOFError, IOError, OSError):
                    pass
        for proc, tasks, results in workers:
            if proc.is_alive():
                proc.terminate()
            proc.join(1.0)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
            tasks.close()
            results.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, '_workers', None):
            try:
                self.close()
            except Exception:  # interpreter shutdown: daemonic workers are ended by multiprocessing anyway
                pass
