//! A string that never shows itself: API tokens live in `Secret` from the
//! moment they are read from the environment until they are put in a request
//! header marked sensitive. `Debug` and `Display` print `[redacted]`; only
//! `expose` gives the value, and only `connector::http` calls it.

use std::fmt;

/// An API token or webhook URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The raw value, for building an authenticated request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("pat-na1-very-secret".into());
        assert!(!format!("{s:?} {s}").contains("very-secret"));
        assert_eq!(s.expose(), "pat-na1-very-secret");
    }
}
