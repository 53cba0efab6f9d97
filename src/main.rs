use std::process::ExitCode;

fn main() -> ExitCode {
    pff::hardware::tune_allocator();
    pff::cli::main()
}
