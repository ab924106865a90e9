"""A hook of the hook-tools load test (test_load_hook_tools.py), run as a
process with ``python -I -S``, as the installed hook tools run:

    python -I -S load_hook_tools_child.py TOOLS_DIR GATE LOOPS RELATION UNIT

It waits (60 s at most) until the file GATE exists, so that all the hooks
call at once, then LOOPS times calls, through the installed client module
(``TOOLS_DIR/_jujuc_client.py``) and the agent of ``$JUJU_AGENT_SOCKET``:
``config-get title``, ``relation-set -r db:RELATION key=v<loop>``,
``relation-get -r db:RELATION key UNIT`` and ``relation-get -r db:RELATION
host db/0``. It prints one JSON line per call — ``[loop, tool, args, code,
stdout, stderr]`` — and the test compares each with what that hook must get.
A failure of the client itself is a line ``["error", message]``.
"""

import json
import os
import sys
import time


def main(tools: str, gate: str, loops: int, relation: str, unit: str) -> int:
    sys.path.insert(0, tools)
    import _jujuc_client as client

    deadline = time.monotonic() + 60
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            print(json.dumps(["error", "the gate never opened"]))
            return 1
        time.sleep(0.005)
    r = f"db:{relation}"
    for loop in range(loops):
        for tool, args in (
            ("config-get", ["title"]),
            ("relation-set", ["-r", r, f"key=v{loop}"]),
            ("relation-get", ["-r", r, "key", unit]),
            ("relation-get", ["-r", r, "host", "db/0"]),
        ):
            try:
                code, out, err = client.call(tool, args)
            except Exception as error:
                print(json.dumps(["error", f"{tool} {args}: {error!r}"]))
                return 1
            print(json.dumps([loop, tool, args, code, out.decode(), err.decode()]))
    return 0


if __name__ == "__main__":
    tools, gate, loops, relation, unit = sys.argv[1:]
    sys.exit(main(tools, gate, int(loops), relation, unit))
