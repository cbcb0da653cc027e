"""Shared helpers of the pruning tests: a small config and random checkpoints with chosen dead filters."""
import os

import numpy as np

from lib import checkpoint
from lib.config import dense_architecture, load_config
from lib.model.arch import group_convs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_CONFIG = os.path.join(ROOT, 'pruned_train_config.py')


def small_config(width_mult=0.25, size=128):
    config = load_config(TRAIN_CONFIG)
    config.MODEL.width_mult = width_mult
    config.DATA.hin = config.DATA.win = size
    config.TEST.max_detect = 50
    return config


def dense_arch(config):
    return dense_architecture(config)


def random_dead(arch, fraction=0.4, seed=0, groups=None):
    """{group: indices to kill}: a random ``fraction`` of the filters of every pruning group of ``arch`` (or of
    ``groups``), never all."""
    rng = np.random.RandomState(seed)
    dead = {}
    for name in arch.groups if groups is None else groups:
        channels = arch.channels[name]
        count = min(channels - 1, max(1, int(fraction * channels)))
        dead[name] = sorted(rng.choice(channels, count, replace=False).tolist())
    return dead


def random_values(arch, seed=0, head_gain=100.):
    """{name: array} of a randomly initialised model, head weights scaled up so scores spread out."""
    values = checkpoint.random_model_values(arch, seed)
    for name in values:
        if '/out_' in name and name.endswith('/weights'):  # ssdout/out_reg0, dual/ssdout/maxout0/negative/out_cla0, ...
            values[name] = values[name] * head_gain
    return values


def write_random_checkpoint(arch, prefix, dead=None, seed=0, extra=True):
    """A random checkpoint at ``prefix`` whose ``dead`` filters ({group: indices}) have zero weights and bias (in
    every conv of the group).

    ``extra`` adds what training checkpoints carry beyond the model: global_step and a Momentum slot per variable.
    """
    values = random_values(arch, seed)
    for group, indices in (dead or {}).items():
        for name in group_convs(group):
            for suffix in ('weights', 'biases'):
                values['%s/%s' % (name, suffix)][..., indices] = 0
    if extra:
        values.update({name + '/Momentum': np.full_like(value, 0.5) for name, value in values.items()})
        values['global_step'] = np.array(123, np.int64)
    checkpoint.write_checkpoint(values, prefix)
    return values
