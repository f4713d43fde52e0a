"""Adapters for third-party augmentation libraries.

Each submodule imports its library on import, so import the one you use explicitly::

    from cvdenoise.integrations.albumentations import Denoise   # albumentations 2.x

The torchvision v2 transform lives in :mod:`cvdenoise.transforms`.
"""
