"""The benchmark suite (issue 8, DESIGN §10): the pipeline against the sequential per-record baseline.

``python -m bench --help`` (or ``reconcile bench``) lists the subcommands; ``bench/README.md`` holds the
latest table and the command that produced it. Benchmarks are measurements, never timed test assertions.
"""
