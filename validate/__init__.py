"""Validation harness: small real models built with ``transformers`` on the CPU, measured, held to ``calc``.

``python -m validate`` writes ``validate/results.json`` (read by the Validation page);
``python -m validate.gpu_step`` is the prepared full-training-step check for a CUDA machine.
Data flows one way: ``validate`` imports ``calc``, never the reverse.
"""
