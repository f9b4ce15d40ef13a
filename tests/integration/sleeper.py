"""A job kind for tests: writes status.json "running" in its work directory until a STOP file appears."""

import json
import sys
import time
from pathlib import Path

workdir = Path(sys.argv[1])
status = workdir / "status.json"
status.write_text(json.dumps({"state": "running"}))
while not (workdir / "STOP").exists():
    time.sleep(0.1)
status.write_text(json.dumps({"state": "stopped"}))
