"""Oracles and benchmarks: what proves edgedl exact and measures how fast the pipeline runs.

- tflm.py     the oracle: tflite-micro's interpreter (reference kernels) and its arena report
- zoo.py      a seeded zoo of Keras models converted to int8 .tflite, for exactness tests and kernel counts
- engine.py   `neuroedge bench engine` (edgedl vs tflite-micro) and `bench stream` (the board loop vs real time)
- mcu.py      `neuroedge bench mcu`: the C core's instructions on emulated Cortex-M4F and lx106 cores
"""
