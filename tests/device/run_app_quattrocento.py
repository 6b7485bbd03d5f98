# The gesture app with the settings of run_app_quattrocento.json, its source the host's
# Quattrocento simulator, until `frames` raw frames arrived; prints its counters and every event
# (decisions with all they carry, activity maps) as one JSON line.
import json
import sys

sys.path.append("device")
import app  # noqa: E402
import run_job  # noqa: E402

params = run_job.job("run_app_quattrocento")
got = []
a = app.App(model="model", callback=got.append, **params["settings"])
a.run_quattrocento("127.0.0.1", params["port"], frames=params["frames"], stall_ms=2000)
print(json.dumps({"stats": a.stats(), "events": got}))
