"""The web daemon: the Explorer (port 3000) and the Marketplace (port 5173), read-only pages.

It reads the node's JSON-RPC and the coordinator's public REST endpoints and renders server-side
HTML (Jinja2) that works without JavaScript; it holds no key and writes nothing. A visitor's API
key only passes through it, per request, when the visitor submits or follows a job.
"""
