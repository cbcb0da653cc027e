"""What every entry script does first: quiet TensorFlow, graph mode, and user errors without tracebacks."""
import argparse
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


def main_entry(func):
    """Decorate a script's ``main``: a UserError prints one line to stderr and exits with status 2."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            sys.stderr.write('error: %s\n' % err)
            sys.exit(2)
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
