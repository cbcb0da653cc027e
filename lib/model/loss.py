"""Detection loss per shot: smooth-L1 on positives + softmax cross-entropy with OHEM, plus weight decay."""
import tensorflow.compat.v1 as tf


def smooth_l1(x):
    """0.5 x^2 for |x| < 1, |x| - 0.5 beyond: continuous with continuous slope at the knee."""
    absolute = tf.abs(x)
    return tf.where(absolute < 1., 0.5 * tf.square(x), absolute - 0.5)


def ohem_negatives(ce, labels, num_negatives):
    """Mask of the ``num_negatives`` highest-loss background anchors over the whole batch."""
    negative = tf.equal(labels, 0)
    flat = tf.reshape(tf.where(negative, ce, tf.fill(tf.shape(ce), -1.)), [-1])
    k = tf.minimum(num_negatives, tf.reduce_sum(tf.cast(negative, tf.int32)))
    top = tf.nn.top_k(flat, k=k, sorted=True).values
    threshold = tf.cond(k > 0, lambda: top[-1], lambda: tf.constant(2. ** 30))
    return tf.logical_and(negative, ce >= threshold)


def num_negatives(num_positive, neg_pos_ratio):
    """floor(neg_pos_ratio x max(num_positive, 1)) as int32: the ratio is a real number (2.5 too), as in the
    original's OHEM, which casts ratio x positives to an integer."""
    positives = tf.cast(tf.maximum(num_positive, 1), tf.float64)
    return tf.cast(tf.minimum(tf.floor(float(neg_pos_ratio) * positives), 2. ** 31 - 1), tf.int32)


def shot_loss(box_pred, logits, labels, box_targets, neg_pos_ratio):
    """(class loss, box loss) of one shot, both divided by the number of positives (at least 1).

    box_pred, box_targets: [N, A, 4]; logits: [N, A, 2]; labels: [N, A] int32 (1 face, 0 background).
    Ties at the OHEM threshold may admit a few extra negatives; that is harmless.
    """
    positive = tf.equal(labels, 1)
    num_positive = tf.reduce_sum(tf.cast(positive, tf.int32))
    normaliser = tf.cast(tf.maximum(num_positive, 1), tf.float32)
    box = tf.reduce_sum(smooth_l1(box_pred - box_targets), axis=-1)
    box_loss = tf.reduce_sum(tf.where(positive, box, tf.zeros_like(box))) / normaliser
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    ce_no_grad = tf.stop_gradient(ce)
    selected = tf.logical_or(positive, ohem_negatives(ce_no_grad, labels, num_negatives(num_positive, neg_pos_ratio)))
    cls_loss = tf.reduce_sum(tf.where(selected, ce, tf.zeros_like(ce))) / normaliser
    return cls_loss, box_loss


def detection_losses(endpoints, targets, neg_pos_ratio):
    """{'cls_loss', 'box_loss'} summed over the shots; ``targets`` holds '<shot>_labels' and '<shot>_boxes'."""
    cls_total, box_total = 0., 0.
    for shot, (box_pred, logits) in endpoints.shots.items():
        cls_loss, box_loss = shot_loss(box_pred, logits, targets[shot + '_labels'], targets[shot + '_boxes'],
                                       neg_pos_ratio)
        cls_total += cls_loss
        box_total += box_loss
    return {'cls_loss': cls_total, 'box_loss': box_total}


def weight_decay(recorder, factor):
    """factor x sum of 0.5 ||w||^2 over conv weights (biases and L2Norm scales excluded)."""
    return factor * tf.add_n([tf.nn.l2_loss(conv.weights) for conv in recorder.convs])
