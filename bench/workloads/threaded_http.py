"""A thread-per-request JSON service: the standard library's ThreadingHTTPServer on
127.0.0.1 (an ephemeral port, printed as "port <n>"), a small handler that builds a JSON
reply. Serves until stdin closes.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "items": [i * i for i in range(50)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, name="acceptor", daemon=True).start()
print("port", server.server_address[1], flush=True)
sys.stdin.read()
server.shutdown()
