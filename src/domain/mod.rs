//! The domain core: passes, categories, the outing rules, decisions and the
//! event chain. Nothing in here touches a file, a socket or the clock: every
//! function takes plain values (including `now`) and returns plain values, so
//! the rules can be tested exhaustively.

pub mod category;
pub mod chain;
pub mod codes;
pub mod committee_log;
pub mod community;
pub mod derived;
pub mod directive;
pub mod followup;
pub mod ids;
pub mod join;
pub mod pass;
pub mod policy;
pub mod register;
pub mod revocation;
pub mod rules;
pub mod sheet;
pub mod slots;
pub mod text;
pub mod trace;
pub mod visit;

pub use category::Category;
pub use codes::{Presence, TemperatureSource};
pub use ids::{HouseholdId, PassId, ResidentId};
pub use policy::Policy;

/// Body temperatures gatepass believes, in °C. Outside is a typing mistake,
/// a sensor pointed at the sky or a hand, or a misparsed frame.
pub const PLAUSIBLE_C: std::ops::RangeInclusive<f64> = 30.0..=45.0;

/// Whether `celsius` is a body temperature at all (never NaN or infinite):
/// the one check for typed, scanned and thermometer readings alike.
pub fn plausible_c(celsius: f64) -> bool {
    celsius.is_finite() && PLAUSIBLE_C.contains(&celsius)
}
