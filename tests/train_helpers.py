"""Tiny data sets and configs for the training tests: drawn ellipse "faces" on noise, written as jpgs plus
train.txt / val.txt in the documented format, and a small config (width 0.125, 64 px input)."""
import os

import cv2
import numpy as np

from lib.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_CONFIG = os.path.join(ROOT, 'pruned_train_config.py')


def write_tiny_dataset(directory, num_images, size=64, seed=0, name='train'):
    """``num_images`` jpgs with 1-2 bright ellipses each; returns the path of the sample list written."""
    rng = np.random.RandomState(seed)
    image_dir = os.path.join(directory, name)
    os.makedirs(image_dir, exist_ok=True)
    lines = []
    for index in range(num_images):
        image = rng.randint(0, 80, (size, size, 3)).astype(np.uint8)
        boxes = []
        for _ in range(rng.randint(1, 3)):
            w = rng.randint(size // 6, size // 3)
            h = int(w * 1.3)
            x1, y1 = rng.randint(0, size - w), rng.randint(0, size - h)
            cv2.ellipse(image, (x1 + w // 2, y1 + h // 2), (w // 2, h // 2), 0, 0, 360, (200, 160, 130), -1)
            boxes.append('%d,%d,%d,%d,1' % (x1, y1, x1 + w, y1 + h))
        path = os.path.join(image_dir, '%03d.jpg' % index)
        cv2.imwrite(path, image)
        lines.append(path + '| ' + ' '.join(boxes))
    list_path = os.path.join(directory, name + '.txt')
    with open(list_path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return list_path


def tiny_overrides(directory, train_txt, val_txt, **extra):
    """{(section, field): value} for a fast run; ``extra`` keys are 'SECTION__field'."""
    values = {
        ('TRAIN', 'process_num'): 0, ('TRAIN', 'prefetch_size'): 2, ('TRAIN', 'batch_size'): 2,
        ('TRAIN', 'epoch'): 2, ('TRAIN', 'log_interval'): 1, ('TRAIN', 'rolling_checkpoint_secs'): 3600,
        ('TRAIN', 'lr_value_every_step'): [0.001, 0.001], ('TRAIN', 'lr_decay_every_step'): [1000],
        ('TRAIN', 'pruned_alpha'): 0., ('DATA', 'train_txt_path'): train_txt, ('DATA', 'val_txt_path'): val_txt,
        ('DATA', 'hin'): 64, ('DATA', 'win'): 64, ('MODEL', 'width_mult'): 0.125,
        ('MODEL', 'model_path'): os.path.join(directory, 'model'), ('MODEL', 'max_to_keep'): 5,
    }
    for key, value in extra.items():
        section, field = key.split('__')
        values[(section, field)] = value
    return values


def make_config(overrides):
    """The repo's config with ``overrides`` applied."""
    config = load_config(BASE_CONFIG)
    for (section, field), value in overrides.items():
        config[section][field] = value
    return config


def write_config_file(path, overrides):
    """A config module: the repo's config file followed by one assignment per override."""
    with open(BASE_CONFIG) as f:
        text = f.read()
    text += ''.join('\nconfig.%s.%s = %r' % (section, field, value)
                    for (section, field), value in sorted(overrides.items()))
    with open(path, 'w') as f:
        f.write(text + '\n')
    return path


def two_virtual_cpus():
    """TF (graph mode) with the CPU split into two virtual devices, /cpu:0 and /cpu:1, for tower tests; call it in
    a fresh process, before its first Session."""
    from lib.common.cli import setup_tensorflow
    tf = setup_tensorflow()
    cpus = tf.config.experimental.list_physical_devices('CPU')
    tf.config.experimental.set_virtual_device_configuration(
        cpus[0], [tf.config.experimental.VirtualDeviceConfiguration()] * 2)
    return tf
