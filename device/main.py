# NeuroEdge launcher, put on the board as /main.py by `neuroedge deploy`.
#
# It boots the install named in /neuroedge/current. A deploy writes a new install
# into its own folder and switches that one name only after every file has
# arrived and been verified, so an interrupted deploy leaves the previous install
# booting. The running app is left at the REPL as `app` (app.get(), app.set(...),
# app.stats(), app.save()).
import sys


def _boot():
    try:
        with open("/neuroedge/current") as f:
            home = "/neuroedge/" + f.read().strip()
    except OSError:
        return _failed("nothing installed yet (run `neuroedge deploy`)")
    sys.path.insert(0, home)  # the install's app and edgedl.mpy before anything in /lib
    try:
        import app as gesture_app

        return gesture_app.start(base=home)
    except Exception as exc:  # noqa: BLE001 - the REPL must stay usable to fix the config
        return _failed("the app did not start: %r" % (exc,))


def _failed(why):
    global app_error
    app_error = "neuroedge: " + why
    print(app_error)
    return None


app_error = None
app = _boot()
