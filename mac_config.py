"""Configuration of `python mac.py`: MACs and parameters of a (pruned) checkpoint, dense vs kept, per layer.

Every value can be overridden by a flag (`python mac.py --help`). The architecture (width_mult, fpn, ...),
anchors and pixel normalisation come from the training config named in MODEL.train_config.
"""
from easydict import EasyDict as edict

config = edict()

config.MODEL = edict()
# A checkpoint prefix (e.g. ./face_detector_pruned/optimized/epoch_10_val_loss_3.210.ckpt) or a folder: a
# training folder gives its best checkpoint (the newest in optimized/, else its newest epoch checkpoint). Dense
# (channels are selected first and a <ckpt>.mask.json is written beside it), dense with a mask file, or slim.
config.MODEL.trained_model = './face_detector_pruned/'  # the README's pruning run
config.MODEL.train_config = 'pruned_train_config.py'  # the training config the checkpoint was trained with
config.MODEL.pruned_ratio = None         # --plan only; None: TRAIN.pruned_ratio of the training config

config.INPUT = edict()
config.INPUT.hin = 640                   # input size the MACs are counted at (multiples of 32)
config.INPUT.win = 640

# Channel selection on a dense checkpoint without a mask file.
config.PRUNE = edict()
config.PRUNE.criterion = 'activation'    # 'activation': ReLU output <= eps on every calibration image (the
                                         # original rule); 'weight': filter-group L2 norm <= eps; 'l1': filter
                                         # L1 norm <= eps (or, with --pruned_ratio, each group's top channels)
config.PRUNE.eps = 1.e-3                 # 0: the original's rule (a channel lives when its maximum is > 0)

config.CALIB = edict()
config.CALIB.source = None               # val.txt-format list or a folder of images; None: DATA.val_txt_path
config.CALIB.num_images = 100            # calibration images (--calib_images)

# `python mac.py --sensitivity`: prune each group alone and measure the val loss (and AP); with --target_macs
# the curves choose the per-group ratios of a MAC budget (README "Prune to a budget").
config.SENSITIVITY = edict()
config.SENSITIVITY.ratios = [0.25, 0.5, 0.75]
config.SENSITIVITY.num_images = 16       # val images (from CALIB.source) the loss is averaged over
config.SENSITIVITY.plot_path = 'sensitivity.png'
config.SENSITIVITY.wider_val = None      # a WIDER root (WIDER_val/images/, eval_tools/ground_truth/*.mat), e.g.
                                         # './data/WIDER': also easy/medium/hard AP (--sensitivity_wider)
config.SENSITIVITY.ap_images = 50        # AP on the first N val images only (each variant runs them all),
                                         # at the training config's DATA.hin x DATA.win
