//! Standard output that a closed pipe ends quietly.
//!
//! `println!` panics when stdout is gone: `mcp-policy diff OLD NEW | head`
//! printed "failed printing to stdout: Broken pipe" and a panic once `head`
//! had its lines. Every command prints through [`outln!`] and [`out!`]
//! instead: a closed pipe ends the process at once, exit 0 and silent, as
//! `grep` and `rg` do when their reader has seen enough; any other write
//! error is reported, exit 2.

use std::fmt;
use std::io::{ErrorKind, Write};

/// Writes `args` (and a line end) to standard output, or ends the process.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(2);
        }
    }
}

/// `println!`, ending the process quietly on a closed pipe.
macro_rules! outln {
    () => {
        $crate::output::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), true)
    };
}

/// `print!`, ending the process quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), false)
    };
}

/// Prints `value` as pretty JSON on stdout, one document. `what` names the
/// format in the error (`JSON`, `SARIF`). A value serde cannot write is a
/// bug or an I/O failure, not a finding: exit 2, as for any I/O error.
pub fn json(value: &impl serde::Serialize, what: &str) -> Result<(), crate::Outcome> {
    match serde_json::to_string_pretty(value) {
        Ok(json) => {
            outln!("{json}");
            Ok(())
        }
        Err(error) => {
            eprintln!("error: cannot write {what}: {error}");
            Err(crate::Outcome::UsageOrIo)
        }
    }
}
