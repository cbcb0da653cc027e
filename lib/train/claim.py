"""A training's hold on its ``model_path``: checked, locked against a second live training, and left as found when
the start fails.

``claim_model_path`` checks the folder (writable now, not at the first save; new, empty, or a training's own), takes
the writer lock ``<model_path>/.train.lock`` (lib.common.lock: a second training on the same folder is refused
naming the first's pid; a ``kill -9`` leaves no stale lock) and yields a ``Claim``. Until ``Claim.begin()`` (called
when training is sure to start), a failure removes what this start created: the marker, the lock file, and the
folders it made (each only if empty); nothing that was there before is touched. In a TF_CONFIG cluster only the
chief claims: the other replicas only read ``model_path``.
"""
import contextlib
import os

from lib.common.errors import UserError
from lib.common.lock import writer_lock
from lib.common.outputs import MARKER, check_writable_dir, claim_output_dir, made_by

LOCK_FILE = '.train.lock'
TOOL = 'train'


class Claim(object):
    """Whether training has begun (then a failure keeps everything: it is a run to resume)."""

    def __init__(self):
        self.begun = False

    def begin(self):
        self.begun = True


def _new_folders(path):
    """``path`` and its missing parents, innermost first: the folders check_writable_dir would create."""
    folders = []
    while path and not os.path.exists(path):
        folders.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return folders


def _check_foreign(model_path):
    """A non-empty folder that holds no training checkpoints and no training marker is someone else's."""
    if not os.path.isdir(model_path):
        return
    listed = os.path.isfile(os.path.join(model_path, 'checkpoint'))
    others = [name for name in os.listdir(model_path) if name != LOCK_FILE]
    if others and not listed and not made_by(model_path, TOOL):
        raise UserError('config.MODEL.model_path = %s is a non-empty folder that holds no training checkpoints; '
                        'choose a new or empty folder (nothing there is changed)' % model_path)


def _remove_quietly(remove, path):
    try:
        remove(path)
    except OSError:
        pass  # gone already, or (a folder) no longer empty: someone else's now


@contextlib.contextmanager
def claim_model_path(model_path):
    """Hold ``model_path`` (absolute) for one training (see the module docstring); yields a Claim."""
    folders = _new_folders(model_path)
    lock = os.path.join(model_path, LOCK_FILE)
    claim = Claim()
    try:
        _check_foreign(model_path)
        check_writable_dir(model_path, 'config.MODEL.model_path')
        lock_existed = os.path.exists(lock)
        with writer_lock(lock, 'config.MODEL.model_path = %s' % model_path):
            marker_existed = made_by(model_path, TOOL)
            try:
                _check_foreign(model_path)  # again, now that no other training can be writing
                if not marker_existed:
                    claim_output_dir(model_path, TOOL, overwrite=True)
                yield claim
            except BaseException:
                if not claim.begun:  # still holding the lock: nobody else is using these
                    if not marker_existed:
                        _remove_quietly(os.remove, os.path.join(model_path, MARKER))
                    if not lock_existed:
                        _remove_quietly(os.remove, lock)
                raise
    except BaseException:
        if not claim.begun:  # the folders this start made, each only if empty (a rival's lock file keeps it)
            for folder in folders:
                _remove_quietly(os.rmdir, folder)
        raise
