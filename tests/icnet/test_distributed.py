"""Distributed hyperparameter search on a real dask.distributed cluster (loopback only)."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from tests.conftest import tiny_estimator

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       worker_dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.slow
def test_grid_search_on_dask_matches_serial(client, small_xy):
    X, y = small_xy
    grid = {"lr": [1e-2, 3e-3], "module__encoder_channels": [4, 8]}
    serial = GridSearchCV(tiny_estimator(max_epochs=2), grid, cv=2, n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        dist = GridSearchCV(tiny_estimator(max_epochs=2), grid, cv=2, n_jobs=-1).fit(X, y)
    # the 8 fits (4 settings x 2 folds) really ran on the cluster's worker processes
    workers = set(client.scheduler_info()["workers"])
    ran = [task for task in stream.data if task["worker"] in workers]
    assert len(ran) >= 1 and len(workers) == 2
    np.testing.assert_allclose(dist.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-6)
    assert dist.best_params_ == serial.best_params_


def test_randomized_search_on_dask(client, small_xy):
    X, y = small_xy
    params = {"lr": [1e-2, 3e-3, 1e-3], "module__bottleneck_channels": [4, 8]}
    kw = dict(n_iter=3, cv=2, random_state=0)
    serial = RandomizedSearchCV(tiny_estimator(max_epochs=1), params, n_jobs=1, **kw).fit(X, y)
    with joblib.parallel_backend("dask"):
        dist = RandomizedSearchCV(tiny_estimator(max_epochs=1), params, n_jobs=-1, **kw).fit(X, y)
    np.testing.assert_allclose(dist.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-6)
