# wifi.connect against the scripted network (tests/device/scripted_network.py): the access point's
# behaviour and the wifi settings come from wifi_join.json; prints the result and the calls made.
import json
import sys

sys.path.append("device")
import run_job  # noqa: E402
import scripted_network as net  # noqa: E402
import wifi  # noqa: E402

params = run_job.job("wifi_join")
net.AP.update(params["ap"])
try:
    out = wifi.connect(params["cfg"], network=net)
except wifi.WifiError as exc:
    out = "WifiError: %s" % exc
print(json.dumps({"result": out, "calls": net.calls}))
