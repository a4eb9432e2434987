"""The live lab's engine: data sets (``data``), one run's settings (``run_config``), the
training loop (``train``) and its metrics (``metrics``), the background job pool (``jobs``), the
teacher's per-learner limits (``limits``) and the clean-up of runs whose learner left (``absence``)."""
