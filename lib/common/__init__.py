"""Shared building blocks: user errors, atomic writes, entry-script helpers, images (the one letterbox)."""
