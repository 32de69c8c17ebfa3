"""Training: optimizers, learning-rate schedules, the epoch loop, checkpoints and the run directory.

    optimizers.py   sgd, momentum, nesterov, adagrad, rmsprop, adam (registry OPTIMIZERS)
    schedules.py    none, step, cosine (registry SCHEDULES) and early stopping
    loop.py         Trainer: epochs, validation, interrupts, resume
    checkpoint.py   checkpoint.npz: weights, buffers, optimizer state, RNG states, position
    evaluate.py     loss, accuracy and confusion matrix of a model on a data set
    files.py        atomic writes (temporary file + os.replace)
    progress.py     the progress bar on a terminal, one line per epoch otherwise
    session.py      from a spec and a training config to a ready Trainer (what `netlang train` runs)
"""
