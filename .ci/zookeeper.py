"""Helpers of .ci/run, standard library only.

python .ci/zookeeper.py free-port          print a free TCP port on 127.0.0.1
python .ci/zookeeper.py wait HOST:PORT S   wait (at most S seconds) until the
                                           ZooKeeper there says "imok"
"""

import socket
import sys
import time


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"ruok")
            sock.settimeout(1)
            return sock.recv(4) == b"imok"
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if argv[:1] == ["free-port"]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            print(sock.getsockname()[1])
        return 0
    if argv[:1] == ["wait"] and len(argv) == 3:
        host, _, port = argv[1].partition(":")
        deadline = time.monotonic() + float(argv[2])
        while time.monotonic() < deadline:
            if answers(host, int(port)):
                return 0
            time.sleep(0.2)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
