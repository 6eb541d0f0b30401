"""Advisory database: sources (OSV bulk zips, distro feeds), the local SQLite store, sync bookkeeping."""
