"""Detection rules shipped as data (secrets, malware, compliance); loaded with importlib.resources."""
