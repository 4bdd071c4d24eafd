"""Helpers shared by every test folder; fixtures built on them are in ``tests/conftest.py``.

* :mod:`~tests.support.images`: files with known data and holes, and sizes;
* :mod:`~tests.support.timeouts`: the one upper bound on any wait;
* :mod:`~tests.support.clock`: a clock the test moves by hand;
* :mod:`~tests.support.servers`: real servers (in-process, in a thread, as a process);
* :mod:`~tests.support.requests`: requests the tests send again and again;
* :mod:`~tests.support.events`: reading a job manager's event log;
* :mod:`~tests.support.errors`: the details of a failed gRPC call;
* :mod:`~tests.support.cli`: running the ``qapi-jobs`` command line;
* :mod:`~tests.support.pki`: a throwaway CA with server and client certificates;
* :mod:`~tests.support.proxy`: a TCP proxy whose connections a test can cut;
* :mod:`~tests.support.fake_context`: a scripted JobContext for engine drivers;
* :mod:`~tests.support.harness`: scripted drivers behind a real job manager;
* :mod:`~tests.support.watch_rig`: the watch servicer on a real gRPC server;
* :mod:`~tests.support.paths`: where the repository's files are.
"""
