# The runtime alone (no app): raw.bin (64-channel int16 frames at 2048 Hz) fed 100 frames at a
# time into runtime.Runtime('model') with the vote and threshold of runtime_feed.json; each event
# is echoed as a JSON line. With "full_heap_every": n, every n-th decision meets a full heap
# (its handler raises MemoryError, as json.dumps of an event may) and the count is printed last.
import array
import json
import sys

sys.path.append("device")
import run_job  # noqa: E402
import runtime  # noqa: E402

params = run_job.job("runtime_feed")
every = params.get("full_heap_every")
calls = [0]


def on_event(event):
    calls[0] += 1
    if calls[0] % every == 0:
        raise MemoryError("memory allocation failed, allocating 1280 bytes")
    print(json.dumps(event))


rt = runtime.Runtime("model", vote=params["vote"], threshold=params["threshold"], fs=2048, channels=64,
                     echo=every is None, on_event=on_event if every else None)
data = open("raw.bin", "rb").read()
step = 2 * 64 * 100
for i in range(0, len(data), step):
    rt.feed(array.array("h", data[i:i + step]))
if every:
    print(json.dumps({"memory_errors": rt.memory_errors}))
