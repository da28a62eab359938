//! The domain core: passes, categories, the outing rules, decisions and the
//! event chain. Nothing in here touches a file, a socket or the clock: every
//! function takes plain values (including `now`) and returns plain values, so
//! the rules can be tested exhaustively.

pub mod category;
pub mod chain;
pub mod codes;
pub mod derived;
pub mod ids;
pub mod pass;
pub mod policy;
pub mod register;
pub mod rules;
pub mod text;
pub mod sheet;

pub use category::Category;
pub use codes::{Presence, TemperatureSource};
pub use ids::{HouseholdId, PassId, ResidentId};
pub use policy::Policy;
