"""`make bench`: wrk against the sidecar on loopback, reported as ratios measured in one run.

Everything runs on this machine's 2 cores at once (wrk, the sidecar, the upstream, Redis and
the provider), so an absolute figure says as much about the neighbours as about the sidecar:
compare the ratios of one run, never figures across runs. See docs/performance.md.
"""
