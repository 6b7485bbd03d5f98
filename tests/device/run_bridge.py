# The bridge role on an emulated board (tests/test_bridge.py): its config from run_bridge.json, run
# until that many frames came from the amplifier; prints its counters as one JSON line.
import json

import bridge
import config

with open("run_bridge.json") as f:
    job = json.load(f)
b = bridge.Bridge(config.check_all(job["config"]))
b.run(frames=job["frames"])
print(json.dumps(b.stats()))
