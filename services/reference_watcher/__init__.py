"""Reference watcher: publishes one ``ReferenceCategoryChanged`` per changed reference category.

Modules: ``sources`` (folder, GitHub, v2 API), ``watcher`` (decisions and guards), ``state``
(rebuild from the compacted topic), ``publisher`` (Kafka), ``app`` (wiring and ops endpoints).
"""
