"""Optional dependencies (requirements-export.txt): imported on demand, a missing one is one UserError line."""
import importlib

from lib.common.errors import UserError

EXPORT_HINT = ('install requirements-export.txt (pip install -r requirements-export.txt) in the modern '
               'environment (Python >= 3.8, TensorFlow 2.x); the Python 3.7 / TF 1.15 environment neither '
               'exports nor runs ONNX, OpenVINO and TFLite files')


def import_optional(module, purpose):
    """``module`` imported, or a UserError saying that ``purpose`` needs it and where it installs."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UserError('%s needs the Python module %s (%s): %s' % (purpose, module, err, EXPORT_HINT))
