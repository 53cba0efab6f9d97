//! The command line: `args` (clap definitions), `settings` (flags + manifest + defaults
//! resolved once per command), `commands` (each command as a pipeline of library calls).
//! `main` parses, dispatches and turns the result into an exit code.

use std::io;
use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod learn;
mod notes;
mod run;
mod settings;

pub use args::{Cli, Command, RulesCommand};

use crate::exit;

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    crate::hardware::tune_allocator();
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::CLEAN
            });
        }
    };
    if let Err(e) = crate::hardware::check_address_space() {
        eprintln!("pff: error: {e}");
        return ExitCode::from(exit::ERROR);
    }
    let result = match cli.command {
        Command::Validate(args) => commands::validate(args),
        Command::Triples(args) => commands::triples(args),
        Command::Run(args) => run::run(args),
        Command::Merge(args) => run::merge(args),
        Command::Calibrate(args) => commands::calibrate(args),
        Command::Learn(args) => learn::learn(args),
        Command::Rules(RulesCommand::Stats { rules, json, top }) => {
            commands::rules_stats(&rules, json, top)
        }
        Command::Rules(RulesCommand::Import(args)) => commands::rules_import(args),
        Command::Rules(RulesCommand::Compile(args)) => commands::rules_compile(args),
        Command::Doctor(args) => commands::doctor(args),
        Command::Completions { shell } => commands::completions(shell),
        Command::Generate(args) => commands::generate(args),
        Command::Man(args) => commands::man(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`pff ... | head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit::CLEAN),
        Err(e) => {
            eprintln!("pff: error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints a panic as one line and no backtrace unless `PFF_BACKTRACE=1`: a backtrace taken
/// under the tokio runtime has been seen to deadlock. The code that panicked turns it into an
/// error (a worker fails the run with exit 2).
fn install_panic_hook() {
    let verbose = std::env::var_os("PFF_BACKTRACE").is_some_and(|v| v == "1");
    if verbose {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        if crate::panics::is_quiet() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("pff: internal error: {msg}{at} (PFF_BACKTRACE=1 for a backtrace)");
    }));
}
