"""The quality officers' workspace: audit review, integrity, compliance figures, near misses, exports."""
