"""The live lab's engine: data sets (``data``), one run's settings (``run_config``), the
training loop (``train``) and its metrics (``metrics``), and the background job pool (``jobs``)."""
