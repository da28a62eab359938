//! Resident categories, as the committee writes them in the register (English
//! or Chinese), and whether a category may leave the compound.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Normal,
    HomeQuarantine,
    Isolated,
    Confirmed,
    Suspected,
    Fever,
    CloseContact,
    Essential,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Normal,
        Category::HomeQuarantine,
        Category::Isolated,
        Category::Confirmed,
        Category::Suspected,
        Category::Fever,
        Category::CloseContact,
        Category::Essential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Normal => "normal",
            Category::HomeQuarantine => "home_quarantine",
            Category::Isolated => "isolated",
            Category::Confirmed => "confirmed",
            Category::Suspected => "suspected",
            Category::Fever => "fever",
            Category::CloseContact => "close_contact",
            Category::Essential => "essential",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Category::Normal => "正常",
            Category::HomeQuarantine => "居家隔离",
            Category::Isolated => "集中隔离",
            Category::Confirmed => "确诊",
            Category::Suspected => "疑似",
            Category::Fever => "发热",
            Category::CloseContact => "密切接触",
            Category::Essential => "保障人员",
        }
    }

    /// Only normal residents and essential workers may go out; every other
    /// category is kept in (reason `quarantined`).
    pub fn may_go_out(self) -> bool {
        matches!(self, Category::Normal | Category::Essential)
    }

    /// Essential workers are exempt from the quota, the household limit and
    /// the hours (never from the temperature check).
    pub fn is_essential(self) -> bool {
        self == Category::Essential
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category '{0}' (use one of: normal/正常, home_quarantine/居家隔离, isolated/集中隔离, confirmed/确诊, suspected/疑似, fever/发热, close_contact/密切接触, essential/保障人员)")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(Category::Normal);
        }
        let lower = t.to_ascii_lowercase().replace(['-', ' '], "_");
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == lower || c.zh() == t)
            .ok_or_else(|| UnknownCategory(t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_english_and_chinese() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            assert_eq!(c.zh().parse::<Category>().unwrap(), c);
        }
        assert_eq!("Home-Quarantine".parse::<Category>().unwrap(), Category::HomeQuarantine);
        assert_eq!("".parse::<Category>().unwrap(), Category::Normal);
        assert!("zombie".parse::<Category>().is_err());
    }

    #[test]
    fn only_normal_and_essential_go_out() {
        let out: Vec<_> = Category::ALL.into_iter().filter(|c| c.may_go_out()).collect();
        assert_eq!(out, vec![Category::Normal, Category::Essential]);
    }
}
