"""`make bench`: what the forwarder costs per event, beside a naive forwarder and npm `mixpanel-import`.

Run it with `python -m bench` (`--quick` or `BENCH_QUICK=1` for the CI smoke run); see bench/README.md.
"""
