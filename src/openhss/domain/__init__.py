"""Pure values shared by every layer; nothing here does I/O."""
