"""Compatibility with the original (airacid/pruned-face-detector on 610265158/DSFD-tensorflow): its configs."""
