"""NeuroEdge: real-time HD-EMG gesture recognition on MicroPython microcontrollers.

The host side, in two pipelines:

1. Recordings -> a model bundle.
   recording (OT .mat/.otb+, WFDB, .npz, .csv; synth makes synthetic ones, libemg_sets imports
   public sets) -> dataset (windows, preprocessed by the board's own C code through preprocess)
   -> train (Keras CNN or classic LDA; convert makes the int8 .tflite) -> bundle (model.tflite +
   model.json, checked by the board's bundle_rules) -> evaluate.

2. The C core -> a board -> a running app.
   native (edgedl.mpy from device/native) -> emulator (the MicroPython unix port as a board),
   virtual_board (the emulator on a pty, for mpremote) or serial_board (a real board) ->
   deploy (bundle + device/app + edgedl.mpy, atomically) -> replay (a recording into the app,
   through quattrocento_sim or the USB serial, scored), tune and calibrate (the running app over
   its REPL).

bench/ holds the oracles (tflite-micro, a zoo of models) and the benchmarks (engine, board loop,
emulated MCU cores). errors.NeuroEdgeError is what the CLI (cli.py) reports as the user's problem.
"""

__version__ = "0.1.0"
