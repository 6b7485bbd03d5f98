# The runtime alone (no app): raw.bin (64-channel int16 frames at 2048 Hz) fed 100 frames at a
# time into runtime.Runtime('model') with the vote and threshold of runtime_feed.json; each event
# is echoed as a JSON line.
import array
import sys

sys.path.append("device")
import run_job  # noqa: E402
import runtime  # noqa: E402

params = run_job.job("runtime_feed")
rt = runtime.Runtime("model", vote=params["vote"], threshold=params["threshold"], fs=2048, channels=64, echo=True)
data = open("raw.bin", "rb").read()
step = 2 * 64 * 100
for i in range(0, len(data), step):
    rt.feed(array.array("h", data[i:i + step]))
