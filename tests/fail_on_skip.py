"""pytest plugin: with BIOMATRIX_FAIL_ON_SKIP=1 (set by .ci/run) any skipped test fails the run,
because every dependency a test needs is one the install step provides."""

import os


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("BIOMATRIX_FAIL_ON_SKIP") == "1" and skipped:
        reporter.write_line(f"{len(skipped)} test(s) skipped: failing (BIOMATRIX_FAIL_ON_SKIP=1)", red=True)
        session.exitstatus = 1
