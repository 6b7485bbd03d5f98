# Streams raw HD-EMG frames from a file through edgedl.Stream, as the runtime
# will from a socket: fixed receive buffer, push, read every ready window.
# Runs unchanged on a board (file in flash) and in the host emulator.
import array
import json
import time

import edgedl


def run(path, channels, window, hop, select=None, capacity=None, chunk_frames=32):
    stream = edgedl.Stream(channels, window, hop=hop, capacity=capacity, select=select)
    window_buf = array.array("h", bytes(2 * window * stream.channels))
    recv_buf = bytearray(2 * channels * chunk_frames)  # like socket.readinto
    recv_view = memoryview(recv_buf)
    stream_us = 0
    reads = 0
    start = time.ticks_us()
    with open(path, "rb") as source:
        while True:
            n = source.readinto(recv_buf)
            if not n:
                break
            reads += 1
            t0 = time.ticks_us()
            stream.push(recv_buf if n == len(recv_buf) else recv_view[:n])
            while stream.read(window_buf):
                pass
            stream_us += time.ticks_diff(time.ticks_us(), t0)
    report = stream.stats()
    report["total_us"] = time.ticks_diff(time.ticks_us(), start)
    report["stream_us"] = stream_us
    report["reads"] = reads
    report["channels"] = stream.channels
    report["last_window"] = bytes(window_buf).hex()
    return report


def main(path, channels, window, hop, select=None, capacity=None, chunk_frames=32):
    print(json.dumps(run(path, channels, window, hop, select, capacity, chunk_frames)))
