"""Compatibility with the original (airacid/pruned-face-detector on 610265158/DSFD-tensorflow): its config files and its checkpoints, read and converted here."""
