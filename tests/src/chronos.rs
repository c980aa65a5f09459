//! Harness for Chronos processes (`dcos daemon chronos`).
