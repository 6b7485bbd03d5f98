# The bridge role on an emulated board (tests/test_bridge.py): its config from run_bridge.json, run
# until that many frames came from the amplifier; prints its counters as one JSON line.
import json
import sys

sys.path.append("device")
import bridge  # noqa: E402
import config  # noqa: E402
import run_job  # noqa: E402

params = run_job.job("run_bridge")
b = bridge.Bridge(config.check_all(params["config"]))
b.run(frames=params["frames"])
print(json.dumps(b.stats()))
