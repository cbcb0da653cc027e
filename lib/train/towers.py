"""Data-parallel towers: one model copy per device on a slice of the batch, shared variables, averaged gradients."""
import tensorflow.compat.v1 as tf


def default_devices(num_gpu):
    """['/gpu:0', ...] for several towers; a single tower is left to TF's placement."""
    return ['/gpu:%d' % i for i in range(num_gpu)] if num_gpu > 1 else [None]


def split_inputs(inputs, num_towers):
    """{name: tensor [B, ...]} -> one dict per tower, each with B / num_towers rows."""
    if num_towers == 1:
        return [inputs]
    pieces = {name: tf.split(tensor, num_towers, axis=0) for name, tensor in inputs.items()}
    return [{name: pieces[name][i] for name in inputs} for i in range(num_towers)]


def average_gradients(tower_grads):
    """[[(grad, var)] per tower] -> [(mean grad, var)]; variables without a gradient are left out."""
    averaged = []
    for grads_and_vars in zip(*tower_grads):
        grads = [g for g, _ in grads_and_vars if g is not None]
        if grads:
            grad = grads[0] if len(grads) == 1 else tf.add_n(grads) / float(len(grads))
            averaged.append((grad, grads_and_vars[0][1]))
    return averaged


def average_dicts(dicts):
    """Mean of each entry over the towers' {name: scalar} dicts."""
    if len(dicts) == 1:
        return dicts[0]
    return {name: tf.add_n([d[name] for d in dicts]) / float(len(dicts)) for name in dicts[0]}


def build_towers(build_tower, inputs, devices, optimizer):
    """Run ``build_tower(tower_inputs) -> (losses dict with 'total_loss', extras)`` once per device.

    Variables are created by the first tower and reused by the others. Returns (averaged grads_and_vars, averaged
    losses, extras of the first tower). Gradients are taken over the trainable variables.
    """
    tower_grads, tower_losses, first_extras = [], [], None
    for index, (device, tower_inputs) in enumerate(zip(devices, split_inputs(inputs, len(devices)))):
        with tf.device(device), tf.variable_scope(tf.get_variable_scope(), reuse=True if index > 0 else None), \
                tf.name_scope('tower_%d' % index):
            losses, extras = build_tower(tower_inputs)
            tower_grads.append(optimizer.compute_gradients(losses['total_loss'], var_list=tf.trainable_variables()))
        tower_losses.append(losses)
        first_extras = extras if index == 0 else first_extras
    return average_gradients(tower_grads), average_dicts(tower_losses), first_extras
