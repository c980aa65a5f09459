//! Mesos HTTP API v1 wire types (grown by the kernel issue).
