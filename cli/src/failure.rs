//! Why the command failed, and the exit code that tells a script.

use std::fmt;
use std::process::ExitCode;

use bot_session::StorageError;

/// Exit code: the store or a file failed.
pub const FAILED: u8 = 1;
/// Exit code: the command was used wrongly (arguments, storage URL, a delete nobody confirmed).
pub const USAGE: u8 = 2;
/// Exit code: a key named on the command line has no session.
pub const NOT_FOUND: u8 = 3;

/// A failed command: its message (for standard error) and exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: FAILED,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure {
            code: NOT_FOUND,
            message: message.into(),
        }
    }

    /// Prints the message to standard error; the exit code.
    pub fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("bot-session: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<StorageError> for Failure {
    fn from(err: StorageError) -> Failure {
        Failure::failed(err.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Failure {
        Failure::failed(err.to_string())
    }
}
