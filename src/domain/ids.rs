//! Typed ids. Residents, households and passes are all numbered by the
//! register, and today's code passes them around as bare integers, so a
//! swapped `household_id`/`resident_id` would compile. These newtypes make
//! that a type error. Serialised transparently: JSON and the hashed event
//! body stay exactly the bare numbers they were.
//!
//! ```
//! use gatepass::domain::{HouseholdId, ResidentId};
//! fn add_outing(_household: HouseholdId, _resident: ResidentId) {}
//! add_outing(HouseholdId(3), ResidentId(7));
//! ```
//!
//! ```compile_fail
//! use gatepass::domain::{HouseholdId, ResidentId};
//! fn add_outing(_household: HouseholdId, _resident: ResidentId) {}
//! add_outing(ResidentId(7), HouseholdId(3)); // swapped: does not compile
//! ```

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = std::num::TryFromIntError;
            fn try_from(n: i64) -> Result<Self, Self::Error> {
                u32::try_from(n).map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                i64::from(id.0)
            }
        }
    };
}

id_type!(
    /// A person in the register (`residents.id`).
    ResidentId
);
id_type!(
    /// A household in the register (`households.id`).
    HouseholdId
);
id_type!(
    /// A printed pass (`passes.id`); a re-issue gets a new one.
    PassId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&ResidentId(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Some(PassId(10000001))).unwrap(), "10000001");
        assert_eq!(serde_json::from_str::<HouseholdId>("42").unwrap(), HouseholdId(42));
        assert_eq!(HouseholdId(42).to_string(), "42");
        assert_eq!("9".parse::<ResidentId>().unwrap(), ResidentId(9));
    }
}
