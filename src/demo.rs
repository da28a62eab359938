//! `gatepass demo` (work in progress in this commit).
pub fn run(_listen: &str) -> anyhow::Result<i32> {
    anyhow::bail!("the demo is not in this build yet")
}
