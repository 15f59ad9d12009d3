"""A deliberately broken MCP stdio server (standard library only), for the
tests of cockpit-deps's bounds. It answers `initialize` properly, writes
its pid to PIDFILE, then misbehaves by MODE:

  exit-after N   answer N more requests, then exit with status 3
  garbage        answer every later request with a line that is not JSON
  silent         read and never answer again (never exits by itself)
  garbage-init   answer even `initialize` with a line that is not JSON
  flood          answer the next request with bytes and no newline, without end

Usage: bad_mcp.py PIDFILE MODE [N]"""

import json
import os
import sys

pidfile, mode = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 0
with open(pidfile, "w") as f:
    f.write(str(os.getpid()))


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


answered = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    if "id" not in msg:
        continue  # a notification (notifications/initialized)
    if msg.get("method") == "initialize":
        if mode == "garbage-init":
            sys.stdout.write("Starting server... ok\n")
            sys.stdout.flush()
            continue
        send({
            "jsonrpc": "2.0",
            "id": msg["id"],
            "result": {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bad-mcp", "version": "0.0.1"},
            },
        })
        continue
    if mode == "silent":
        continue
    if mode == "flood":
        chunk = "x" * 65536
        try:
            while True:
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except BrokenPipeError:
            sys.exit(0)
    if mode == "garbage":
        sys.stdout.write("<html>502 Bad Gateway</html>\n")
        sys.stdout.flush()
        continue
    if mode == "exit-after" and answered >= n:
        sys.exit(3)
    answered += 1
    if msg.get("method") == "tools/list":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": []}})
    else:
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
