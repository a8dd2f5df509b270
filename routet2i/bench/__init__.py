"""``routet2i bench``: benchmarks and reliability checks, all on 127.0.0.1, bounded in count and
time. One module per suite (router, worker, overhead, load, faults, fuzz); :mod:`.stack` starts
the processes they measure."""
