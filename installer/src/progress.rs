//! Progress for people: an indicatif spinner per step when stderr is a
//! terminal, one plain line per finished step otherwise (logs, CI,
//! `curl | bash`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    tty: bool,
    quiet: bool,
}

/// One step being waited for.
#[derive(Debug)]
pub struct Step {
    bar: Option<ProgressBar>,
    what: String,
    start: Instant,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    pub fn begin(&self, what: impl Into<String>) -> Step {
        let what = what.into();
        let bar = (self.tty && !self.quiet).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message(what.clone());
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Step {
            bar,
            what,
            start: Instant::now(),
            quiet: self.quiet,
        }
    }

    /// A line of its own (a check result, a note).
    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

impl Step {
    pub fn done(self, result: &str) {
        let line = format!(
            "✓ {}: {result} ({:.1} s)",
            self.what,
            self.start.elapsed().as_secs_f64()
        );
        self.finish(line);
    }

    pub fn fail(self, result: &str) {
        let line = format!("✗ {}: {result}", self.what);
        self.finish(line);
    }

    fn finish(self, line: String) {
        match self.bar {
            Some(b) => {
                if let Ok(style) = ProgressStyle::with_template("{msg}") {
                    b.set_style(style);
                }
                b.finish_with_message(line)
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}
