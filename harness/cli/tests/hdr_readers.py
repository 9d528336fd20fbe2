"""Reads proxybench's .hlog files with HdrHistogram's own Python reader
(the `hdrhistogram` package, module `hdrh`) and prints, per file and
trial tag, what that reader makes of the intervals: their total count,
the p50/p99/max of their sum (nearest rank) and hdrh's own p99 (rounded
rank), and every recorded value with its count, in the log's raw unit
(ns).

Used by harness/cli/tests/hdr_readers.rs, which compares the figures with
the results file the same run wrote. Usage: python hdr_readers.py FILE...
"""

import json
import math
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def new():
    """proxybench's histogram bounds (pb_results::hist): 1 ns .. 60 s,
    3 significant digits, so a sum adds exactly."""
    return HdrHistogram(1, 60 * 10**9, 3)


def nearest_rank(h, percentile):
    """The value at rank ceil(p/100 * n), the nearest-rank definition
    proxybench's results use, from this package's own buckets (its
    get_value_at_percentile rounds the rank to the nearest count
    instead, as HdrHistogram's Java original does)."""
    rank = max(1, math.ceil(percentile / 100.0 * h.get_total_count()))
    for v in h.get_recorded_iterator():
        if v.total_count_to_this_value >= rank:
            return h.get_highest_equivalent_value(v.value_iterated_to)
    return 0


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
            "p50": nearest_rank(h, 50.0),
            "p99": nearest_rank(h, 99.0),
            "p99_rounded_rank": h.get_value_at_percentile(99.0),
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
