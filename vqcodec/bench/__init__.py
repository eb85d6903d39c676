"""Rate-distortion, speed and memory benchmark of vqcodec against classical codecs.

Run it with ``vqcodec bench DIR``; see benchmarks/README.md. This package imports
nothing on purpose: the timing worker loads the classical codec adapters without
pulling in torch, so their peak memory is their own.
"""
