"""pytest settings of the lab tests."""


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: a benchmark run by its make target (make bench-rotation-wan), "
                                       "deselected in molecule (-m 'not bench')")
