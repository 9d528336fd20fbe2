"""Reads proxybench's .hlog files with HdrHistogram's own Python reader
(the `hdrhistogram` package, module `hdrh`) and prints, per file and
trial tag, what that reader makes of the intervals: their total count,
the p50/p99/max of their sum and every recorded value with its count, in
the log's raw unit (ns).

Used by harness/cli/tests/hdr_readers.rs, which compares the figures with
the results file the same run wrote. Usage: python hdr_readers.py FILE...
"""

import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def new():
    """proxybench's histogram bounds (pb_results::hist): 1 ns .. 60 s,
    3 significant digits, so a sum adds exactly."""
    return HdrHistogram(1, 60 * 10**9, 3)


def read(path):
    reader = HistogramLogReader(path, new())
    trials = {}
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        tag = h.get_tag()
        if tag not in trials:
            trials[tag] = new()
        trials[tag].add(h)
    return {
        tag: {
            "count": h.get_total_count(),
            "p50": h.get_value_at_percentile(50.0),
            "p99": h.get_value_at_percentile(99.0),
            "max": h.get_max_value(),
            "recorded": [
                [v.value_iterated_to, v.count_at_value_iterated_to]
                for v in h.get_recorded_iterator()
            ],
        }
        for tag, h in trials.items()
    }


if __name__ == "__main__":
    print(json.dumps({path: read(path) for path in sys.argv[1:]}))
