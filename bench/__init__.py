"""Benchmarks of qapi-jobs against the alternatives its users have.

Run ``python -m bench`` (or ``make bench``) for the full suite and
``python -m bench --smoke`` for a quick run with tiny sizes.  Every benchmark
measures the service and its baselines (a bare grpc.aio server, QEMU's own
QMP, ``qemu-img`` and ``cp``) in the same run and reports ratios, because
absolute times on a shared machine mean little.  Results are printed as
tables and written as JSON to ``bench/results/``.
"""
