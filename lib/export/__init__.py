"""Checkpoint -> deployable files: the frozen GraphDef and the SavedModel."""
