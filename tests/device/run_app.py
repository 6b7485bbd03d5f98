# Runs the gesture app on an emulated board with the settings tests/helpers.run_app wrote to
# run_app.json, and prints its counters and its events (raw frame, gesture index) as one JSON line.
import json

import app

with open("run_app.json") as f:
    job = json.load(f)
got = []
a = app.App(model="model", output="quiet", callback=lambda e: got.append((e["raw_frame"], e["index"])),
            **job["settings"])
a.run(frames=job["frames"], seconds=job["seconds"])
print(json.dumps({"stats": a.stats(), "events": got}))
