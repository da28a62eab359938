//! Why a card stopped working, as a code the pages turn into words
//! (遗失, 损坏, 已换新卡, 迁出, 去世, 其他).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Lost,
    Damaged,
    /// Superseded by a card issued later for the same person (a batch issue).
    Replaced,
    MovedOut,
    Deceased,
    Other,
}

impl RevokeReason {
    pub const ALL: [RevokeReason; 6] = [
        RevokeReason::Lost,
        RevokeReason::Damaged,
        RevokeReason::Replaced,
        RevokeReason::MovedOut,
        RevokeReason::Deceased,
        RevokeReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Lost => "lost",
            RevokeReason::Damaged => "damaged",
            RevokeReason::Replaced => "replaced",
            RevokeReason::MovedOut => "moved_out",
            RevokeReason::Deceased => "deceased",
            RevokeReason::Other => "other",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            RevokeReason::Lost => "遗失",
            RevokeReason::Damaged => "损坏",
            RevokeReason::Replaced => "已换新卡",
            RevokeReason::MovedOut => "迁出",
            RevokeReason::Deceased => "去世",
            RevokeReason::Other => "其他",
        }
    }

    /// A code or its Chinese word; None for anything else.
    pub fn parse(text: &str) -> Option<RevokeReason> {
        let t = text.trim();
        RevokeReason::ALL.into_iter().find(|r| t.eq_ignore_ascii_case(r.as_str()) || t == r.zh())
    }

    /// What a stored reason reads as: a known code, or `other` for the free
    /// text earlier versions stored.
    pub fn from_stored(text: &str) -> RevokeReason {
        if text == "replaced by a new card" {
            return RevokeReason::Replaced;
        }
        RevokeReason::parse(text).unwrap_or(RevokeReason::Other)
    }

    /// The reasons a committee may pick for a single card's reissue.
    pub fn for_reissue(self) -> bool {
        matches!(self, RevokeReason::Lost | RevokeReason::Damaged | RevokeReason::Other)
    }
}

/// A reason typed by a person (`--reason`, the API): a code or its word
/// as is; any other text is `other`, the text kept as a note.
pub fn from_text(text: &str) -> (RevokeReason, Option<String>) {
    match RevokeReason::parse(text) {
        Some(r) => (r, None),
        None => (RevokeReason::Other, Some(text.trim().to_string()).filter(|t| !t.is_empty())),
    }
}

impl std::fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_words_and_old_free_text() {
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
            assert_eq!(RevokeReason::parse(r.zh()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(RevokeReason::from_stored("replaced by a new card"), RevokeReason::Replaced);
        assert_eq!(RevokeReason::from_stored("lost on the bus"), RevokeReason::Other);
        assert_eq!(from_text(" LOST "), (RevokeReason::Lost, None));
        assert_eq!(from_text("dog ate it"), (RevokeReason::Other, Some("dog ate it".into())));
        assert!(RevokeReason::Lost.for_reissue() && !RevokeReason::Replaced.for_reissue());
    }
}
