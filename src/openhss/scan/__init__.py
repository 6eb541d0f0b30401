"""The scan engine: image sources, the streaming layer walk, analyzers, applier, matcher."""
