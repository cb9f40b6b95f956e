"""grade --cluster: each student graded on a Dask cluster's worker, in the same sandbox and with the
same limits; a worker killed mid-batch loses nothing, and the grades equal a local run's."""
import csv
import os
import signal
import threading
import time

import pytest

from autograder.__main__ import main
from autograder.demo import write_demo_class

SLUG = "01-neuron"


def rows(folder):
    """grades.csv without the timing, which differs from run to run."""
    return sorted(tuple(row.items()) for row in csv.DictReader(open(folder / "grades.csv")))


@pytest.mark.slow
def test_a_cluster_grades_like_this_machine_even_when_a_worker_dies(tmp_path):
    distributed = pytest.importorskip("distributed")
    submissions = write_demo_class(SLUG, tmp_path / "submissions")
    assert main(["grade", str(submissions), "--assignment", SLUG, "--out", str(tmp_path / "local"), "--workers", "2"]) == 0

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_class=distributed.Nanny) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        out = tmp_path / "cluster"
        killed = []

        def kill_a_worker_mid_batch():
            # once the first student's feedback is written, the other worker is grading: kill it
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not list((out / "feedback").glob("*/*.html")):
                time.sleep(0.2)
            busy = {pid for pid, tasks in client.run(lambda dask_worker: (os.getpid(), len(dask_worker.state.executing)),
                                                        ).values() if tasks}
            victim = next(iter(busy), pids[0])
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

        killer = threading.Thread(target=kill_a_worker_mid_batch)
        killer.start()
        start = time.monotonic()
        assert main(["grade", str(submissions), "--assignment", SLUG, "--out", str(out),
                     "--cluster", cluster.scheduler_address]) == 0
        seconds = time.monotonic() - start
        killer.join()
        assert killed and killed[0] not in client.run(os.getpid).values()  # the nanny started a new worker
    assert rows(out) == rows(tmp_path / "local"), f"cluster grades differ from local ones ({seconds:.0f} s)"
