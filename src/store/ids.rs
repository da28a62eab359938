//! The typed ids read and written as SQLite integers.

use crate::domain::{HouseholdId, PassId, ResidentId};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! sql_id {
    ($name:ident) => {
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(i64::from(self.0)))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let n = value.as_i64()?;
                u32::try_from(n).map($name).map_err(|_| FromSqlError::OutOfRange(n))
            }
        }
    };
}

sql_id!(ResidentId);
sql_id!(HouseholdId);
sql_id!(PassId);

impl ToSql for crate::domain::Presence {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for crate::domain::Presence {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}
