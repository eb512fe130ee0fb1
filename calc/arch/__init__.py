"""Declarative architecture descriptions: layer kinds (``kinds``), families as data (``families``),
the generic reader (``build``), the flat ``ModelSpec`` view (``flat``). See docs/CONVENTIONS.md."""
