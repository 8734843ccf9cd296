//! dns-shift
