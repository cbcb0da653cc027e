"""The learning-rate schedule switches exactly at the README's step boundaries, in Python and in the graph."""
import pytest
import tensorflow.compat.v1 as tf

from lib.train.schedule import learning_rate, learning_rate_at

VALUES = [0.001, 0.005, 0.0005]
BOUNDARIES = [1000, 10000]
EDGES = [(0, 0.001), (999, 0.001), (1000, 0.005), (9999, 0.005), (10000, 0.0005), (123456, 0.0005)]


@pytest.mark.parametrize('step, expected', EDGES)
def test_python_schedule_edges(step, expected):
    assert learning_rate_at(step, BOUNDARIES, VALUES) == expected


def test_graph_schedule_matches_edges(graph):
    step = tf.placeholder(tf.int64, [])
    lr = learning_rate(step, BOUNDARIES, VALUES)
    with tf.Session() as session:
        for value, expected in EDGES:
            assert session.run(lr, {step: value}) == pytest.approx(expected, rel=1e-6)


def test_single_value_schedule(graph):
    lr = learning_rate(tf.constant(5, tf.int64), [], [0.01])
    with tf.Session() as session:
        assert session.run(lr) == pytest.approx(0.01)
