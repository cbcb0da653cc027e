"""The original (610265158/DSFD-tensorflow, as the seed uses it): its checkpoints, read and converted here."""
