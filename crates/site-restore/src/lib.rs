//! site-restore
