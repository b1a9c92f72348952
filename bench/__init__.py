"""dorm benchmarks (``make bench``): numbers against peers, not timed tests."""
