"""MACs and parameters of DSFD, dense vs pruned, per layer: `python mac.py` (settings in mac_config.py, or flags).

Works on a dense checkpoint (channels are selected first), a checkpoint with a mask file, a slim checkpoint,
or with --plan on no checkpoint at all; --sensitivity prunes each layer alone and plots the val loss.
"""
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

from lib.helper.cli import main_entry, setup_logging, setup_tensorflow  # noqa: E402


@main_entry
def main():
    setup_tensorflow()
    setup_logging()
    from lib.pruning import mac_tool
    mac_tool.main(sys.argv[1:], os.path.join(ROOT, 'mac_config.py'))


if __name__ == '__main__':
    main()
