//! Harness for Marathon processes (`dcos daemon marathon`).
