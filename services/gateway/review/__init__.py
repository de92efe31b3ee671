"""The review page: server-rendered HTML for maintainers under ``/review/`` (README "Review page").

Read-only views of the same materialised data the API serves (risk listing index, history,
proposal inputs), rendered in one pass as plain HTML with inline SVG; a small script adds live
updates from the SSE stream. Nothing here computes risk: it only formats what the workers stored.
"""
