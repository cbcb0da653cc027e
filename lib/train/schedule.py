"""Piecewise-constant learning rate: values[i] for boundaries[i-1] <= step < boundaries[i].

With values [0.001, 0.005, 0.0005] and boundaries [1000, 10000]: steps 0..999 -> 0.001, 1000..9999 -> 0.005,
10000 and later -> 0.0005, as the README states. tf.train.piecewise_constant keeps a value up to and including
its boundary, so the graph version hands it the boundaries minus one.
"""
import bisect

import tensorflow.compat.v1 as tf


def learning_rate_at(step, boundaries, values):
    """The learning rate of one step, in Python (logs, resume messages, tests)."""
    return values[bisect.bisect_right(list(boundaries), step)]


def learning_rate(global_step, boundaries, values):
    """The learning rate tensor of ``global_step`` (same numbers as learning_rate_at)."""
    if not boundaries:
        return tf.constant(float(values[0]), tf.float32, name='lr_schedule')
    step = tf.cast(global_step, tf.int64)
    last_steps = [tf.constant(int(b) - 1, tf.int64) for b in boundaries]
    return tf.train.piecewise_constant(step, last_steps, [float(v) for v in values], name='lr_schedule')
