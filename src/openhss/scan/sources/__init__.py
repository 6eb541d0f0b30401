"""Image sources: one module per skopeo transport, all producing the same `ImageHandle`."""
