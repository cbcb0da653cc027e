"""Test-only hooks of the trainer: kill the process at a chosen point, and trace which samples each step used.

``PRUNED_DSFD_FAULT`` names one point at which the training process kills itself with SIGKILL, so the crash tests
hit exactly the same point on every run (no polling, no timing): ``step:N`` (right after the update that makes the
global step N, before anything is saved), ``save:epoch:E`` / ``save:optimized:E`` (inside the save of epoch E's
checkpoint / its optimized checkpoint: data written, state file not yet), ``save:rolling:N`` (inside the rolling
save at global step N). ``PRUNED_DSFD_TRACE`` names a file the trainer appends one line to per step (global step
after it, then the image paths of its batch) and one ``start`` line after restoring (step, learning rate read from
the graph, digest of the optimizer slots). Both are read once when training starts; unset (as outside the tests),
they do nothing. A driver of several trainings (tools/prune_iteratively.py) takes ``round:R:POINT``: POINT is
the fault of round R's training only (or of the driver itself, ``round:R:slimmed``).
"""
import hashlib
import os
import signal

FAULT_ENV = 'PRUNED_DSFD_FAULT'
TRACE_ENV = 'PRUNED_DSFD_TRACE'


class Hooks(object):
    """The fault point and trace file of this process (both None when unset)."""

    def __init__(self, fault=None, trace=None):
        self.fault = tuple(fault.split(':')) if fault else None
        self.trace = trace

    @classmethod
    def from_environment(cls):
        return cls(os.environ.get(FAULT_ENV), os.environ.get(TRACE_ENV))

    def point(self, *where):
        """Kill this process if ``where`` (e.g. 'save', 'rolling', 12) is the configured fault point."""
        if self.fault is not None and self.fault == tuple(str(w) for w in where):
            os.kill(os.getpid(), signal.SIGKILL)

    def record(self, *fields):
        """Append one line to the trace file (flushed, so a kill right after keeps it)."""
        if self.trace:
            with open(self.trace, 'a') as f:
                f.write('\t'.join(str(v) for v in fields) + '\n')


def round_environment(environment, index):
    """A copy of ``environment`` (os.environ) for the training of round ``index``: a ``round:R:POINT`` fault
    becomes POINT in round R and is dropped in the others; any other fault stays as it is."""
    environment = dict(environment)
    fault = environment.get(FAULT_ENV, '').split(':')
    if fault[0] == 'round':
        del environment[FAULT_ENV]
        if fault[1:2] == [str(index)]:
            environment[FAULT_ENV] = ':'.join(fault[2:])
    return environment


OPTIMIZER_NAMES = ('/Momentum', '/Adam', '/Adam_1', 'beta1_power', 'beta2_power')


def slots_digest(named_arrays):
    """sha1 over (name, bytes) of the optimizer's variables among ``named_arrays`` ({checkpoint name: array}), in
    name order: equal digests, equal optimizer state."""
    digest = hashlib.sha1()
    for name in sorted(n for n in named_arrays if n.endswith(OPTIMIZER_NAMES)):
        digest.update(name.encode())
        digest.update(named_arrays[name].tobytes())
    return digest.hexdigest()
