//! Small closed sets that used to travel as strings. Each serialises to
//! exactly the string it replaced, so JSON, the database and the hashed
//! event body do not change.

use serde::{Deserialize, Serialize};

/// Where a resident is, as the presence projection records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    In,
    Out,
}

/// Where a temperature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemperatureSource {
    Serial,
    I2c,
    /// Typed by the guard.
    Manual,
}

/// A code that is not one of the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown code {0:?}")]
pub struct UnknownCode(pub String);

macro_rules! codes {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownCode(s.to_string())),
                }
            }
        }
    };
}

codes!(Presence { In => "in", Out => "out" });
codes!(TemperatureSource { Serial => "serial", I2c => "i2c", Manual => "manual" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_strings_they_replaced() {
        for p in [Presence::In, Presence::Out] {
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
            assert_eq!(p.as_str().parse::<Presence>(), Ok(p));
        }
        assert_eq!(Presence::In.as_str(), "in");
        assert_eq!(Presence::Out.as_str(), "out");
        for (s, text) in [
            (TemperatureSource::Serial, "serial"),
            (TemperatureSource::I2c, "i2c"),
            (TemperatureSource::Manual, "manual"),
        ] {
            assert_eq!(s.as_str(), text);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{text}\""));
            assert_eq!(text.parse::<TemperatureSource>(), Ok(s));
        }
        assert!("IN".parse::<Presence>().is_err());
    }
}
