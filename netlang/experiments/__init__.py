"""Experiments on a spec, as the seeds run them: the numbers behind netlang search, sweep, activations, plot.

    ranges.py       search ranges (FIELD=LOW:HIGH:log, FIELD=A,B,C) and the seeded draw of each trial
    training.py     the shared data split and one short training run through netlang's Trainer
    search.py       random search: trials, the resumable results file, parallel workers, ranking
    specfile.py     writing a configuration back out as a spec (train section replaced)
    sweep.py        variants of one or more fields, trained alike, and their learning curves
    activations.py  every layer's activations for a batch through a freshly initialised network
    runs.py         what `netlang plot` draws from a run directory: curves, filters, mistakes, confusion

The pictures are in netlang.plots; everything here is plain NumPy and JSON, and is what the tests check.
"""
