//! The `dcos` binary: parses arguments, sets up tracing, and hands over to
//! the library (`dcos_cli`). Nothing testable lives here.

/// mimalloc rather than glibc malloc: the master's allocation cycle and
/// offer books allocate many small strings and vectors, and glibc's
/// per-thread arenas grew the master's RSS under many connections.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dcos_cli::main()
}
