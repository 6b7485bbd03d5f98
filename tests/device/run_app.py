# Runs the gesture app on an emulated board with the settings tests/helpers.run_app wrote to
# run_app.json, and prints its counters and its events (raw frame, gesture index) as one JSON line.
import json
import sys

sys.path.append("device")
import app  # noqa: E402
import run_job  # noqa: E402

params = run_job.job("run_app")
got = []
a = app.App(model="model", output="quiet", callback=lambda e: got.append((e["raw_frame"], e["index"])),
            **params["settings"])
a.run(frames=params["frames"], seconds=params["seconds"])
print(json.dumps({"stats": a.stats(), "events": got}))
