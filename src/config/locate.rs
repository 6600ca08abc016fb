//! Where a problem in the mapping file is: byte spans (from toml) turned
//! into `file:line: problem` messages, so every `ConfigError` points at the
//! line to fix.

use super::ConfigError;
use std::fmt::Display;
use std::ops::Range;

/// The mapping file's name and text, to turn spans into lines.
pub(super) struct Locator<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub(super) fn new(file: &'a str, text: &'a str) -> Locator<'a> {
        Locator { file, text }
    }

    /// The mapping file's name, as errors show it.
    pub(super) fn file(&self) -> &'a str {
        self.file
    }

    /// A problem at the line where `span` starts.
    pub(super) fn error(&self, span: Range<usize>, problem: impl Display) -> ConfigError {
        self.at(Some(span), problem)
    }

    /// A problem at the line where `span` starts, or of the whole file.
    pub(super) fn at(&self, span: Option<Range<usize>>, problem: impl Display) -> ConfigError {
        match span {
            Some(span) => ConfigError(format!("{}:{}: {problem}", self.file, self.line_of(span))),
            None => ConfigError(format!("{}: {problem}", self.file)),
        }
    }

    /// The key a value at `span` is assigned to, when it follows `key =`
    /// on its line (in a table or an inline table).
    pub(super) fn key_of(&self, span: &Range<usize>) -> Option<&'a str> {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
        let assignment = line.rsplit(['{', ',']).next().unwrap_or(line);
        let key = assignment.trim().strip_suffix('=')?.trim_end();
        let plain = |c: char| c.is_ascii_alphanumeric() || "_-.\"'".contains(c);
        (!key.is_empty() && key.chars().all(plain)).then_some(key)
    }

    fn line_of(&self, span: Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
}
