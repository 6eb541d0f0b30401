"""OS detection and the OS package managers' databases (dpkg, apk, rpm)."""
