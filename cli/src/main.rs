//! The `dcos` binary: parses arguments, sets up tracing, and hands over to
//! the library (`dcos_cli`). Nothing testable lives here.

fn main() -> std::process::ExitCode {
    dcos_cli::main()
}
