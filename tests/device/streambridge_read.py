# StreamBridge alone against the amplifier simulator (streambridge_read.json: port, frames, and
# pause: seconds the reader stops once, after 2000 frames, or 0). The grid channels' windows go
# to grid.bin; prints the counters and the amplifier's buffer level after each read.
import array
import json
import sys
import time

sys.path.append("device")
import run_job  # noqa: E402
import streambridge  # noqa: E402

params = run_job.job("streambridge_read")
b = streambridge.StreamBridge("127.0.0.1", params["port"], window=32, hop=32)
b.connect()
win = array.array("h", bytes(2 * 32 * 192))
out = open("grid.bin", "wb")
levels = []
paused = False
while b.stream.frames_pushed < params["frames"]:
    if not b.poll():
        break
    while b.stream.read(win):
        out.write(win)
    levels.append(b.buffer_free)
    if params["pause"] and not paused and b.stream.frames_pushed > 2000:
        time.sleep(params["pause"])  # the board falls behind (a long GC, a busy WiFi)
        paused = True
out.close()
b.close()
print(json.dumps({"stats": b.stats(), "levels": levels}))
