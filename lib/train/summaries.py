"""TensorBoard scalars of a training run: losses, learning rate, and each prunable layer's live-channel fraction."""
import tensorflow.compat.v1 as tf


def layer_tag(layer):
    """'vgg_16/conv1/conv1_1' -> 'alive/conv1_1', 'extra/extra_conv1' -> 'alive/extra_conv1' (short, unique tags
    group nicely in TensorBoard); FPN / FEM groups keep their whole name ('alive/fems0/eyes_1'), their last part
    repeats across levels."""
    short = layer.split('/')[-1]
    return 'alive/' + (short if layer.startswith(('vgg_16/', 'extra/')) else layer)


def train_summaries(losses, learning_rate, alive):
    """One merged summary op: every entry of ``losses`` under 'loss/', the lr, and 'alive/<layer>' fractions."""
    scalars = [tf.summary.scalar('loss/' + name, value) for name, value in sorted(losses.items())]
    scalars.append(tf.summary.scalar('learning_rate', learning_rate))
    scalars += [tf.summary.scalar(layer_tag(layer), fraction) for layer, fraction in sorted(alive.items())]
    return tf.summary.merge(scalars)


def scalar_summary(tag, value):
    """A Summary protobuf of one Python scalar (values computed outside the graph, e.g. the val loss)."""
    return tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=float(value))])
