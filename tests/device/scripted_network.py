# A stand-in for the ESP32's `network` module (which the unix port lacks), for
# wifi.py's tests in the emulator: one access point, whose name and password
# are set by the test, answering the way the ESP32's station interface does
# (STAT_CONNECTING for a few polls, then STAT_GOT_IP or the reason it failed).
STA_IF = 0
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201

AP = {"ssid": "lab-emg", "password": "correct horse", "polls": 3, "answers": True}
calls = []


class WLAN:
    def __init__(self, interface):
        self._active = False
        self._status = STAT_IDLE
        self._polls = 0
        self._ssid = None
        self._ifconfig = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def active(self, on=None):
        if on is not None:
            self._active = on
            calls.append(("active", on))
        return self._active

    def ifconfig(self, values=None):
        if values is not None:
            calls.append(("ifconfig", values))
            self._ifconfig = values
        return self._ifconfig

    def connect(self, ssid, password):
        calls.append(("connect", ssid))
        self._ssid, self._password, self._polls = ssid, password, 0
        self._status = STAT_CONNECTING

    def disconnect(self):
        self._status = STAT_IDLE

    def config(self, key):
        return self._ssid

    def status(self):
        if self._status == STAT_CONNECTING and AP["answers"]:
            self._polls += 1
            if self._polls >= AP["polls"]:
                if self._ssid != AP["ssid"]:
                    self._status = STAT_NO_AP_FOUND
                elif self._password != AP["password"]:
                    self._status = STAT_WRONG_PASSWORD
                else:
                    self._status = STAT_GOT_IP
                    if self._ifconfig[0] == "0.0.0.0":
                        self._ifconfig = ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        return self._status

    def isconnected(self):
        return self.status() == STAT_GOT_IP
