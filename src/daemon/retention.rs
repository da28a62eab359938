//! `[retention]`: purge collected events older than `days`, at start and
//! every hour, on the writer thread.

use crate::writer::Writer;

pub fn spawn(writer: Writer, days: u32) {
    if days == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            match writer.run(|g| g.apply_retention(chrono::Utc::now())).await {
                Ok(Ok(Some(r))) => tracing::info!(purged = r.purged, through = r.through_seq, "retention"),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::error!("retention: {e}"),
                Err(e) => tracing::error!("retention: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
}
