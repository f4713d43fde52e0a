"""Defaults shared by the API and the command line (no imports: ``cvdenoise --help`` stays light)."""

#: tile side (pixels) of :class:`cvdenoise.Denoiser` and its adapters: larger images are
#: denoised in overlapping tiles of at most this size (bounded memory)
DEFAULT_TILE = 2048

#: tile overlap (pixels): covers the context the shipped models look at around a pixel (the
#: camera-noise-trained ``fast`` model ~96 px; with 64, tiled and whole results differed by up to
#: 7 levels at seams)
DEFAULT_OVERLAP = 96
