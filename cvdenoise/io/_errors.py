"""The errors of :mod:`cvdenoise.io`."""


class ImageReadError(ValueError):
    """A file could not be decoded as an image."""


class ImageWriteError(OSError):
    """An image could not be encoded or written."""
