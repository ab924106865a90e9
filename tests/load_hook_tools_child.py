"""The processes of the hook-tools load test (test_load_hook_tools.py), run
with ``python -I -S``, as the installed hook tools run.

``launch DIR``: the launcher. It reads from stdin a JSON list of hooks
(``{"argv": [...], "env": {...}}``), starts them all, prints ``spawned`` when
it has, waits for them and prints one JSON line: per hook, ``[exit code,
stdout, stderr]``. (The test starts this one small process rather than 200:
forking the big test process 200 times takes a minute on a busy machine.)
Each hook's output goes to files in DIR.

``hook TOOLS_DIR GATE LOOPS RELATION UNIT``: one hook. It waits (60 s at
most) until the file GATE exists, so that all the hooks call at once, then
LOOPS times calls, through the installed client module
(``TOOLS_DIR/_jujuc_client.py``) and the agent of ``$JUJU_AGENT_SOCKET``:
``config-get title``, ``relation-set -r db:RELATION key=v<loop>``,
``relation-get -r db:RELATION key UNIT`` and ``relation-get -r db:RELATION
host db/0``. It prints one JSON line per call — ``[loop, tool, args, code,
stdout, stderr]`` — and the test compares each with what that hook must get.
A failure of the client itself is a line ``["error", message]``.
"""

import json
import os
import subprocess
import sys
import time


def launch(directory: str) -> int:
    hooks = json.load(sys.stdin)
    running = []
    for index, hook in enumerate(hooks):
        with (
            open(os.path.join(directory, f"{index}.out"), "wb") as out,
            open(os.path.join(directory, f"{index}.err"), "wb") as err,
        ):
            running.append(
                subprocess.Popen(
                    hook["argv"],
                    env=hook["env"],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd="/",
                )
            )
    print("spawned", flush=True)
    results = []
    for index, process in enumerate(running):
        code = process.wait()
        with open(os.path.join(directory, f"{index}.out"), "rb") as out:
            stdout = out.read().decode()
        with open(os.path.join(directory, f"{index}.err"), "rb") as err:
            stderr = err.read().decode()
        results.append([code, stdout, stderr])
    print(json.dumps(results), flush=True)
    return 0


def hook(tools: str, gate: str, loops: int, relation: str, unit: str) -> int:
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
    if sys.argv[1] == "launch":
        sys.exit(launch(sys.argv[2]))
    tools, gate, loops, relation, unit = sys.argv[2:]
    sys.exit(hook(tools, gate, int(loops), relation, unit))
