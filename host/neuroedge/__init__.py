"""NeuroEdge: real-time HD-EMG gesture recognition on MicroPython microcontrollers.

Host side: builds the `edgedl` native module, runs the emulator (MicroPython's
unix port as a board), and later trains, converts, deploys and tunes models.
"""

__version__ = "0.1.0"
