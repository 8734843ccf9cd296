//! db-snapshot
