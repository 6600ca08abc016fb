//! How `init` spells names in the TOML it writes: strings and keys quoted
//! where TOML needs it, labels made safe for a one-line comment, a field
//! kind in words.
//!
//! A leaf of `init/`: it knows nothing of pairs or value maps, only how a
//! piece of text is written.

use crate::connector::FieldType;

/// A TOML basic string.
pub(super) fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key: bare where TOML allows it, else quoted.
pub(super) fn quote_key(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { text.to_string() } else { quote(text) }
}

/// A label made safe for a one-line comment.
pub(super) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A field's kind as comments name it.
pub(super) fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Bool => "bool",
        FieldType::Choice => "choice",
        FieldType::Relation(_) => "relation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_where_needed() {
        assert_eq!(quote_key("jobtitle"), "jobtitle");
        assert_eq!(quote_key("Job Title"), "\"Job Title\"");
        assert_eq!(quote("say \"hi\""), "'say \"hi\"'");
    }

    #[test]
    fn a_label_with_a_line_break_stays_on_its_comment_line() {
        assert_eq!(clean("Deal\nstage\tname"), "Deal stage name");
        assert_eq!(quote_key(""), "\"\"");
    }
}
