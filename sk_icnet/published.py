"""This module moved to :mod:`sk_icnet.icnet` in 0.4; this import path keeps working."""

from .icnet._published import describe_keras, load_published_icnet

__all__ = ["describe_keras", "load_published_icnet"]
