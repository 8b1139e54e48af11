"""Sequence-to-sequence models behind one interface (see `attnlab.models.interface`)."""
