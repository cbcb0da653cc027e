"""What every entry script does first: quiet TensorFlow, graph mode, and user errors without tracebacks."""
import argparse
import errno
import functools
import logging
import os
import sys

from lib.common.errors import UserError


def setup_tensorflow():
    """Import TF 1.x-style (graph mode) with its deprecation spam silenced; return the tf.compat.v1 module."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import warnings
    warnings.filterwarnings('ignore', category=FutureWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    import tensorflow.compat.v1 as tf
    tf.logging.set_verbosity(tf.logging.ERROR)
    logging.getLogger('tensorflow').setLevel(logging.ERROR)
    tf.disable_v2_behavior()
    return tf


def setup_logging(level=logging.INFO):
    logging.basicConfig(level=level, format='%(asctime)s %(levelname)s %(name)s: %(message)s', datefmt='%H:%M:%S')


# What a full disk looks like: OSError(ENOSPC / EDQUOT), or TF's ResourceExhaustedError from a checkpoint write.
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = ('No space left on device', 'Disk quota exceeded')


def _no_space(err):
    """The file or message of a full-disk error in ``err`` or its causes, else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _NO_SPACE_ERRNOS:
            return err.filename or os.strerror(err.errno)
        if type(err).__name__ == 'ResourceExhaustedError' and any(t in str(err) for t in _NO_SPACE_TEXT):
            return str(err).strip().splitlines()[0][:300]
        err = err.__cause__ or err.__context__
    return None


def main_entry(func=None, kept=None):
    """Decorate a script's ``main`` (``@main_entry`` or ``@main_entry(kept=TEXT)``): a UserError prints one line to
    stderr and exits with status 2; Ctrl-C (KeyboardInterrupt) exits with 130 and a full disk with 1, each in one
    line that ends with ``kept``: what the interrupted job kept and how to resume it (a long job's script passes it)."""
    if func is None:
        return functools.partial(main_entry, kept=kept)
    after = '; ' + kept if kept else ''

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            sys.stderr.write('error: %s\n' % err)
            sys.exit(2)
        except KeyboardInterrupt:
            sys.stderr.write('interrupted (Ctrl-C)%s\n' % after)
            sys.exit(130)
        except Exception as err:  # noqa: BLE001 -- only a full disk is turned into one line; the rest re-raised
            where = _no_space(err)
            if where is None:
                raise
            sys.stderr.write('error: no space left on device (%s)%s; free space, then re-run the same command\n'
                             % (where, after))
            sys.exit(1)
    return wrapper


def add_max_image_pixels(parser):
    """The --max_image_pixels flag of every script that reads images: lib.common.image.read_image skips an image
    whose header declares more pixels, like an unreadable one, before decoding it."""
    from lib.common.image import MAX_IMAGE_PIXELS

    def pixels(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError('expected an integer >= 1 (width x height), got %r' % text)
        return value
    parser.add_argument('--max_image_pixels', type=pixels, default=MAX_IMAGE_PIXELS,
                        help='skip (like an unreadable one) an image whose header declares more pixels than this '
                             '(default %d: 100 megapixels; WIDER\'s largest is under 3)' % MAX_IMAGE_PIXELS)
