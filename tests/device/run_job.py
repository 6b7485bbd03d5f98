# Helpers for the scripts in this folder, which the tests run on emulated boards: each reads its
# parameters from <script>.json in the board's root (tests/helpers.run_device_script writes it).
import json


def job(name):
    with open(name + ".json") as f:
        return json.load(f)
