//! smoke-test
