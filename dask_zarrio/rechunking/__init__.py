"""Store-to-store work: ``dz.rechunk``, ``dz.copy`` and the tasks they run."""
