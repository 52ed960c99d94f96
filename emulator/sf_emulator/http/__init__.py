"""HTTP serving: connections, the server and its request handler, routing, requests and answers."""
