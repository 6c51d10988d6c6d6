//! Bytes a process has had written to storage (`write_bytes` in `/proc/<pid>/io`), to compare
//! what a workload writes per unit of work.

/// Bytes process `pid` has caused to be written to storage so far (threads included), or `None`
/// when the process is gone or `/proc` cannot be read.
pub fn storage_writes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_file_written_and_synced_counts_and_a_missing_process_reads_none() {
        let me = std::process::id();
        let before = storage_writes(me).expect("own /proc entry");
        // Beside the test program: on the build's disk (a temporary directory may be in memory).
        let path = std::env::current_exe()
            .expect("test program")
            .with_file_name(format!("storage-writes-{me}"));
        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(&vec![7u8; 1 << 20]).expect("write");
        file.sync_all().expect("sync");
        let after = storage_writes(me).expect("own /proc entry");
        std::fs::remove_file(&path).expect("remove");
        assert!(after >= before + (1 << 20), "{before} then {after}");
        assert!(storage_writes(u32::MAX).is_none());
    }
}
