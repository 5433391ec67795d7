//! What wpod has to say about a manifest: errors that stop it and warnings that do not.

use std::fmt;

use super::tree::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The path as given on the command line, or `<stdin>`.
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Field path such as `spec.containers[0].image`; empty when the whole input is meant.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub(super) fn error(file: &str, pos: Option<Pos>, path: &str, message: String) -> Self {
        Self::new(Severity::Error, file, pos, path, message)
    }

    pub(super) fn warning(file: &str, pos: Option<Pos>, path: &str, message: String) -> Self {
        Self::new(Severity::Warning, file, pos, path, message)
    }

    fn new(severity: Severity, file: &str, pos: Option<Pos>, path: &str, message: String) -> Self {
        Diagnostic {
            severity,
            file: file.to_owned(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            path: path.to_owned(),
            message,
            help: None,
        }
    }

    pub(super) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}: ", self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_position_path_and_help() {
        let d = Diagnostic::error(
            "pod.yaml",
            Some(Pos {
                line: 12,
                column: 7,
            }),
            "spec.containers[0].imagePullPolcy",
            "unknown field".into(),
        )
        .with_help("did you mean `imagePullPolicy`?");
        assert_eq!(
            d.to_string(),
            "pod.yaml:12:7: error: spec.containers[0].imagePullPolcy: unknown field\n  help: did you mean `imagePullPolicy`?"
        );
    }

    #[test]
    fn renders_without_position_or_path() {
        let d = Diagnostic::warning("<stdin>", None, "", "empty input".into());
        assert_eq!(d.to_string(), "<stdin>: warning: empty input");
    }
}
