"""Application package analyzers: one module per ecosystem (Python, Node, Java, Go, Rust, Ruby, PHP, .NET)."""
