use std::process::ExitCode;

fn main() -> ExitCode {
    pff::cli::main()
}
