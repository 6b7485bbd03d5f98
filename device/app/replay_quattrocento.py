# Not deployed: the host runs it on the emulated board for `neuroedge replay` and `bench stream`.
# The gesture app against the amplifier simulator: the host writes replay_quattrocento.json
# (port, frames, and vote, threshold or any other "settings"); each event is printed as the app
# emits it, then the app's counters and the heap it took.
import gc
import json

import app

with open("replay_quattrocento.json") as f:
    job = json.load(f)
gc.collect()
before = gc.mem_alloc()
settings = {k: job[k] for k in ("vote", "threshold") if k in job}
settings.update(job.get("settings", {}))
a = app.App(model="model", source={"kind": "quattrocento", "host": "127.0.0.1", "port": job["port"]}, **settings)
gc.collect()
heap = {"app": gc.mem_alloc() - before, "total": gc.mem_alloc() + gc.mem_free(), "buffers": a.memory()}
a.run(frames=job["frames"])
gc.collect()
heap["after_run"] = gc.mem_alloc() - before
print("STATS " + json.dumps(a.stats()))
print("HEAP " + json.dumps(heap))
