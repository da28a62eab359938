//! Names people read on a guard screen, a card or a district page must show
//! what they are. Bidi overrides can make "张三" render as someone else's
//! name, zero-width characters make two different names look the same, and
//! control characters break CSV and log lines; all are refused at the door.

/// The first character of `s` that must not appear in a name, if any.
pub fn hidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| is_hidden(c))
}

fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // zero-width space/non-joiner/joiner, LRM, RLM
            '\u{200B}'..='\u{200F}'
            // bidi embeddings and overrides
            | '\u{202A}'..='\u{202E}'
            // bidi isolates
            | '\u{2066}'..='\u{2069}'
            // line/paragraph separators, word joiner and invisible operators
            | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}'
            // Arabic letter mark, Mongolian vowel separator
            | '\u{061C}' | '\u{180E}'
            // byte order mark / zero-width no-break space
            | '\u{FEFF}'
            // interlinear annotation, object replacement
            | '\u{FFF9}'..='\u{FFFC}')
}

/// Why a name is refused, in words for the person who typed it; None when
/// the name is fine.
pub fn name_problem(s: &str) -> Option<String> {
    let c = hidden_char(s)?;
    Some(format!(
        "contains the invisible or direction-changing character U+{:04X}; retype it without copying from another document",
        u32::from(c)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bidi_zero_width_and_controls() {
        for bad in [
            "张\u{202E}三",
            "a\u{202A}b",
            "a\u{2066}b",
            "a\u{2069}",
            "\u{200B}张三",
            "张\u{200D}三",
            "张三\u{200F}",
            "张\u{FEFF}三",
            "a\u{0007}b",
            "a\tb",
            "a\u{0085}b",
            "a\u{2028}b",
        ] {
            assert!(hidden_char(bad).is_some(), "{bad:?} should be refused");
            assert!(name_problem(bad).is_some_and(|p| p.contains("U+")));
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for good in ["张三", "Zhang San", "O'Neil-Smith", "Ana María", "أحمد", "1-101", "<script>"] {
            assert_eq!(hidden_char(good), None, "{good:?}");
        }
    }
}
