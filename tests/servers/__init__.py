"""Servers for tests and benchmarks (a local S3 server, a fault-injecting proxy, network namespaces).

They start processes and, for namespaces, need root: test infrastructure, not part of
the installed package. Imported as ``tests.servers.<module>`` from the repository root
(``tests`` is a namespace package, pytest puts the root on ``sys.path`` through
``pythonpath`` in pyproject.toml, and ``python -m benchmarks`` runs from the root).
"""
