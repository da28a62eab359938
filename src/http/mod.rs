//! The gate daemon's HTTP side (work in progress in this commit).
pub fn serve_data_dir(_dir: &std::path::Path, _listen: Option<&str>) -> anyhow::Result<i32> {
    anyhow::bail!("the daemon is not in this build yet")
}
